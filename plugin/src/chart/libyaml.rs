//! libyaml's scanner and parser over borrowed text, for the guards that look at YAML before
//! yaml_serde decodes it: yaml_serde runs the same libyaml, so they read the text as the
//! decoding that follows will.

use libyaml_rs::yaml_event_type_t::{
    YAML_ALIAS_EVENT, YAML_DOCUMENT_END_EVENT, YAML_MAPPING_END_EVENT, YAML_MAPPING_START_EVENT, YAML_SCALAR_EVENT,
    YAML_SEQUENCE_END_EVENT, YAML_SEQUENCE_START_EVENT, YAML_STREAM_END_EVENT,
};
use libyaml_rs::yaml_scalar_style_t::YAML_DOUBLE_QUOTED_SCALAR_STYLE;
use libyaml_rs::yaml_token_type_t::YAML_SCALAR_TOKEN;
use libyaml_rs::{
    yaml_event_delete, yaml_event_t, yaml_parser_delete, yaml_parser_initialize, yaml_parser_parse, yaml_parser_scan,
    yaml_parser_set_input_string, yaml_parser_t, yaml_token_delete, yaml_token_t, yaml_token_type_t,
};
use std::ffi::{CStr, c_char};
use std::marker::PhantomData;
use std::mem::MaybeUninit;
use std::ops::Range;

/// A libyaml parser reading borrowed text.
struct Parser<'t> {
    parser: Box<MaybeUninit<yaml_parser_t>>,
    text: PhantomData<&'t [u8]>,
}

impl<'t> Parser<'t> {
    fn new(text: &'t [u8]) -> Option<Parser<'t>> {
        let mut parser = Box::new(MaybeUninit::<yaml_parser_t>::uninit());
        // SAFETY: initialize fills in the parser it is given; the input it then reads is
        // borrowed for as long as the parser lives ('t), and the parser is deleted on drop.
        unsafe {
            if !yaml_parser_initialize(parser.as_mut_ptr()).ok {
                return None;
            }
            yaml_parser_set_input_string(parser.as_mut_ptr(), text.as_ptr(), text.len() as u64);
        }
        Some(Parser { parser, text: PhantomData })
    }

    fn get(&mut self) -> *mut yaml_parser_t {
        self.parser.as_mut_ptr()
    }
}

impl Drop for Parser<'_> {
    fn drop(&mut self) {
        // SAFETY: the parser was initialized in `new` and is deleted once.
        unsafe { yaml_parser_delete(self.get()) }
    }
}

/// The tokens of a text.
pub struct Scanner<'t>(Parser<'t>);

/// A token: its type, where it lies in the text (byte offsets), and whether it is a
/// double-quoted scalar.
pub struct Token {
    pub kind: yaml_token_type_t,
    pub span: Range<usize>,
    pub double_quoted: bool,
}

impl<'t> Scanner<'t> {
    pub fn new(text: &'t [u8]) -> Option<Scanner<'t>> {
        Parser::new(text).map(Scanner)
    }

    /// The next token; None once the scanner fails.
    pub fn next(&mut self) -> Option<Token> {
        let mut token = MaybeUninit::<yaml_token_t>::uninit();
        // SAFETY: the parser was initialized in `new`; scan fills in the token (zeroed first),
        // whose scalar style is read only for a scalar token, and which is deleted here once
        // read.
        unsafe {
            if !yaml_parser_scan(self.0.get(), token.as_mut_ptr()).ok {
                return None;
            }
            let t = &*token.as_ptr();
            let double_quoted = t.type_ == YAML_SCALAR_TOKEN && t.data.scalar.style == YAML_DOUBLE_QUOTED_SCALAR_STYLE;
            let span = t.start_mark.index as usize..t.end_mark.index as usize;
            let found = Token { kind: t.type_, span, double_quoted };
            yaml_token_delete(token.as_mut_ptr());
            Some(found)
        }
    }

    /// Why the scanner stopped, once it has failed.
    pub fn failure(&mut self) -> Failure {
        // SAFETY: the parser was initialized in `new`; its marks are plain data, and its
        // problem, once it has failed, a C string of libyaml's own (static) or null.
        unsafe {
            let parser = &*self.0.get();
            let problem = (!parser.problem.is_null()).then(|| CStr::from_ptr(parser.problem).to_bytes());
            Failure {
                at: parser.problem_mark.index as usize,
                context_at: parser.context_mark.index as usize,
                problem: problem.unwrap_or_default(),
            }
        }
    }
}

/// Where and why the scanner stopped: the byte offsets of the problem and of what it was
/// reading (a quoted scalar's opening quote, say), and libyaml's words for the problem.
pub struct Failure {
    pub at: usize,
    pub context_at: usize,
    pub problem: &'static [u8],
}

/// What the guards need of a parser event: the nodes, with their anchors.
pub enum Event {
    Alias(Vec<u8>),
    /// A scalar; `merge` if it is `<<`, plain or tagged `!!merge`, which as a key merges a
    /// mapping in.
    Scalar {
        anchor: Option<Vec<u8>>,
        merge: bool,
    },
    SequenceStart(Option<Vec<u8>>),
    MappingStart(Option<Vec<u8>>),
    CollectionEnd,
    DocumentEnd,
    /// The stream's and a document's start.
    Other,
}

/// The events of a text.
pub struct Events<'t>(Parser<'t>);

impl<'t> Events<'t> {
    pub fn new(text: &'t [u8]) -> Option<Events<'t>> {
        Parser::new(text).map(Events)
    }

    /// The next event; None at the stream's end, or once the parser fails.
    pub fn next(&mut self) -> Option<Event> {
        let mut event = MaybeUninit::<yaml_event_t>::uninit();
        // SAFETY: the parser was initialized in `new`; parse fills in the event, whose
        // anchor (a C string) and scalar value (`length` bytes) are copied out, as the union
        // member its type names, before the event is deleted.
        unsafe {
            if !yaml_parser_parse(self.0.get(), event.as_mut_ptr()).ok {
                return None;
            }
            let e = &*event.as_ptr();
            // An anchor's name, or a tag: a C string, if there is one.
            let anchor =
                |name: *mut u8| (!name.is_null()).then(|| CStr::from_ptr(name as *const c_char).to_bytes().to_vec());
            let found = match e.type_ {
                YAML_STREAM_END_EVENT => None,
                YAML_DOCUMENT_END_EVENT => Some(Event::DocumentEnd),
                YAML_ALIAS_EVENT => Some(Event::Alias(anchor(e.data.alias.anchor).unwrap_or_default())),
                YAML_SCALAR_EVENT => {
                    let s = e.data.scalar;
                    let value = std::slice::from_raw_parts(s.value, s.length as usize);
                    let merge_tag = anchor(s.tag).is_some_and(|tag| tag == b"tag:yaml.org,2002:merge");
                    Some(Event::Scalar {
                        anchor: anchor(s.anchor),
                        merge: value == b"<<" && (s.plain_implicit || merge_tag),
                    })
                }
                YAML_SEQUENCE_START_EVENT => Some(Event::SequenceStart(anchor(e.data.sequence_start.anchor))),
                YAML_MAPPING_START_EVENT => Some(Event::MappingStart(anchor(e.data.mapping_start.anchor))),
                YAML_SEQUENCE_END_EVENT | YAML_MAPPING_END_EVENT => Some(Event::CollectionEnd),
                _ => Some(Event::Other),
            };
            yaml_event_delete(event.as_mut_ptr());
            found
        }
    }
}
