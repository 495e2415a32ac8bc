// helm-oci on Node.js: the helm-oci component (bin/helm-oci.wasm, transpiled by jco into
// gen/ with `bash build.sh`), driven through its WIT exports alone. Each call gets an
// instance of its own, granted what the native host grants the same command: the
// directories it names (read-only where it only reads) and the registry it names. A request
// to any other host is refused with wasi:http's `HTTP-request-denied` before a connection
// is made.

import { randomBytes } from 'node:crypto';
import { mkdir, readFile, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { http } from '@bytecodealliance/preview2-shim';
import { WASIShim } from '@bytecodealliance/preview2-shim/instantiation';
import { instantiate } from './gen/helm-oci.js';
import { markReadOnly } from './read-only.js';

/** A failure the component reported: `kind` is the WIT `error` case, `error` its value. */
export class HelmOciError extends Error {
  constructor(error) {
    super(describe(error));
    this.kind = error.tag;
    this.error = error;
  }
}

/** Helm's chart cache, which the native host uses too: $HELM_CACHE_HOME/oci, else ~/.cache/helm/oci. */
export const helmCache = join(process.env.HELM_CACHE_HOME
  ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'helm'), 'oci');

// Connection options, for every call that reaches a registry:
//   username, password   sent as the WIT `credential` (Basic, or exchanged for a token)
//   plainHttp            http:// instead of https://
//   hosts                more hosts the component may reach (a token service elsewhere)
//   debug                the component's trace of requests on stderr
//   timeoutMs            the whole call's limit (Helm's 5 minutes if not given)

/** Pushes a chart directory or packaged .tgz to `remote`: oci://host/namespace, or a reference with a tag. */
export async function push(chart, remote, connection = {}) {
  chart = resolve(chart);
  const { registry, gate } = await start({ read: [await chartDirectory(chart)] });
  const ref = call(() => registry.parseReference(remote));
  // `links: []`: this host resolves no symlink, so the component follows those inside the chart alone.
  return call(() => registry.push({ chart, remote: ref, connection: connect(gate, ref.endpoint, connection), links: [] }));
}

/** Pulls a chart through the cache into `destination`, named as Helm's pull names it (or unpacked);
 * with `prov`, its provenance file beside the archive too, if it has one. */
export async function pull(reference, { cache = helmCache, destination = '.', version, devel = false, untar = false,
  prov = false, ...connection } = {}) {
  [cache, destination] = [await directory(cache), await directory(destination)];
  const { registry, gate } = await start({ write: [destination, cache] });
  const ref = call(() => registry.parseReference(reference));
  const options = { reference: ref, version, devel, destination, untar, namedAsAsked: true, provenance: prov, cache, offline: false,
    mirrors: [] };
  return call(() => registry.pull({ ...options, connection: connect(gate, ref.endpoint, connection) }));
}

/** A chart's versions, newest first (with `all`, the other tags too). */
export async function tags(repository, { version, devel = false, all = false, ...connection } = {}) {
  const { registry, discovery, gate } = await start();
  const ref = call(() => registry.parseReference(repository));
  // No mirrors: nothing here reads a mirror configuration, so no mirror is passed over.
  const options = { repository: ref, versions: { constraint: version, devel }, all, concurrency: 8, mirrors: [] };
  return call(() => discovery.tags({ ...options, connection: connect(gate, ref.endpoint, connection) })).entries;
}

/** The charts in a registry (`host[/namespace]`) whose repository contains `term`. */
export async function search(target, { term, version, devel = false, allVersions = false, ...connection } = {}) {
  const [host, ...namespace] = target.replace(/^oci:\/\//, '').split('/');
  const { registry, discovery, gate } = await start();
  const endpoint = call(() => registry.registryEndpoint(host));
  const listing = { registry: host, namespace: namespace.join('/'), repositories: [], concurrency: 8, mirrors: [],
    connection: connect(gate, endpoint, connection) };
  return call(() => discovery.search({ listing, term, versions: { constraint: version, devel }, allVersions,
    failFast: false }));
}

/** Saves a chart directory or .tgz into the cache under `reference`, with no network. */
export async function save(chart, reference, { cache = helmCache } = {}) {
  chart = resolve(chart);
  cache = await directory(cache);
  const { registry, cache: store } = await start({ read: [await chartDirectory(chart)], write: [cache] });
  const ref = call(() => registry.parseReference(reference));
  return call(() => store.save({ cache, chart, reference: ref, namesRepository: false, links: [] }));
}

/** Every reference in the cache. */
export async function list({ cache = helmCache } = {}) {
  cache = await directory(cache);
  const { cache: store } = await start({ read: [cache] });
  return call(() => store.list(cache));
}

/** The component's version. */
export async function version() {
  return (await start()).about.version();
}

/** An instance of the component that may read `read`, write `write`, and reach what `gate` is told. */
async function start({ read = [], write = [] } = {}) {
  const gate = new Gate();
  const shim = new WASIShim({
    http: { ...http, types, outgoingHandler: { handle: (request, options) => gate.handle(request, options) } },
    sandbox: {
      // Each directory is preopened at its own absolute path, as the native host does.
      preopens: Object.fromEntries([...read, ...write].map((dir) => [dir, dir])),
      // No environment but this run's id, which the component's temp files carry.
      env: { HELM_OCI_RUN: randomBytes(8).toString('hex') },
      args: ['helm-oci'],
    },
  });
  const imports = shim.getImportObject();
  for (const [descriptor, dir] of imports['wasi:filesystem/preopens'].getDirectories()) {
    if (!write.includes(dir)) markReadOnly(descriptor);
  }
  return { ...(await withoutJspi(() => instantiate(coreModule, imports))), gate };
}

/**
 * Runs jco's instantiation quickly where Node has no JSPI. The generated code tries
 * `WebAssembly.promising` once for each export and falls back to the plain export when the
 * call fails; a call to a missing function has V8 re-read the whole generated module to word
 * its TypeError (about 20 ms, each time). A stand-in that fails plainly keeps that fallback.
 */
async function withoutJspi(f) {
  if (WebAssembly.promising) return f();
  WebAssembly.promising = () => {
    throw new TypeError('JSPI is not available');
  };
  try {
    return await f();
  } finally {
    delete WebAssembly.promising;
  }
}

/**
 * wasi:http's types, but for `http-error-code`: for a body that broke off (a connection
 * reset), the shim hands back Node's own Error, which is no `error-code`, and jco then fails
 * the whole call with a TypeError. It is said as an internal error with Node's words, so the
 * component takes it as the transient failure it is: it resumes or retries, as natively.
 */
const types = {
  ...http.types,
  httpErrorCode(e) {
    const code = http.types.httpErrorCode(e);
    return typeof code?.tag === 'string' ? code : { tag: 'internal-error', val: `${code?.code ?? code?.message ?? code}` };
  },
};

/** Where one instance's requests may go: the hosts granted, over HTTPS unless plain HTTP was asked for. */
class Gate {
  #hosts = new Set();
  #plainHttp = false;

  allow(hosts, plainHttp) {
    for (const host of hosts) this.#hosts.add(host.toLowerCase());
    this.#plainHttp ||= plainHttp;
  }

  /** wasi:http/outgoing-handler's `handle`: anything not granted is refused before it is sent. */
  handle(request, options) {
    const scheme = request.scheme()?.tag;
    const granted = this.#hosts.has(request.authority()?.toLowerCase())
      && (scheme === 'HTTPS' || (scheme === 'HTTP' && this.#plainHttp));
    if (!granted) throw { tag: 'HTTP-request-denied' };
    const future = http.outgoingHandler.handle(request, options);
    // The shim says a connection reset before the answer (ECONNRESET, Node's "socket hang
    // up") as HTTP-protocol-error, its only use of that code: it is said as the connection
    // ending, which the component tries again, as natively; not as a malformed answer.
    const get = future.get.bind(future);
    future.get = () => {
      const got = get();
      if (got?.tag === 'ok' && got.val.tag === 'err' && got.val.val?.tag === 'HTTP-protocol-error') {
        got.val.val = { tag: 'connection-terminated' };
      }
      return got;
    };
    return future;
  }
}

/** Grants the registry's endpoint (and `hosts`) and gives the WIT `remote-options`. */
function connect(gate, endpoint, { username, password, plainHttp = false, hosts = [], debug = false, timeoutMs = 300_000 }) {
  if ((username === undefined) !== (password === undefined)) {
    throw new Error('username and password give credentials only together');
  }
  gate.allow([endpoint, ...hosts], plainHttp);
  // Without one, the component is told what to say should the registry want one. As the
  // native host takes them, a pair with an empty side (an unset CI secret, say) is none.
  const credential = !username || !password
    ? { tag: 'missing', val: 'give username and password' }
    : { tag: 'basic', val: { username, password } };
  return { plainHttp, credential, debug, timeoutMs: BigInt(timeoutMs) };
}

/** The directory a chart is read from: the chart's own, or a packaged chart's, where its .prov may sit. */
async function chartDirectory(chart) {
  return (await stat(chart)).isDirectory() ? chart : dirname(chart);
}

/** A directory's absolute path, created if missing. */
async function directory(dir) {
  await mkdir(resolve(dir), { recursive: true });
  return resolve(dir);
}

/** Runs a call into the component; its `error` becomes a HelmOciError. */
function call(f) {
  try {
    return f();
  } catch (e) {
    throw e?.payload?.tag ? new HelmOciError(e.payload) : e;
  }
}

/** An error's text, as the native host prints it. */
function describe({ tag, val }) {
  if (tag === 'digest-mismatch') return `${val.subject}: digest mismatch: expected ${val.expected}, got ${val.actual}`;
  if (tag === 'registry') return `${val.message} (${val.code ? `${val.code}, ` : ''}HTTP ${val.status})`;
  return val;
}

// The component's core modules, compiled once per process.
const modules = new Map();
function coreModule(name) {
  if (!modules.has(name)) modules.set(name, readFile(new URL(`gen/${name}`, import.meta.url)).then(WebAssembly.compile));
  return modules.get(name);
}
