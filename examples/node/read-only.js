// Read-only grants for preview2-shim, which preopens every directory read-write: a
// descriptor marked here, and every descriptor opened through it, refuses whatever would
// create, change, move or remove a file, with wasi:filesystem's `read-only` error.

import { filesystem } from '@bytecodealliance/preview2-shim';

const readOnly = new WeakSet();
const { prototype } = filesystem.types.Descriptor;

/** Makes a descriptor (a preopened directory) and what is opened through it read-only. */
export function markReadOnly(descriptor) {
  readOnly.add(descriptor);
  return descriptor;
}

// The calls that change something: refused when the descriptor, or the other directory of
// a link or rename, is read-only.
const changes = ['write', 'writeViaStream', 'appendViaStream', 'setSize', 'setTimes', 'setTimesAt',
  'createDirectoryAt', 'linkAt', 'renameAt', 'symlinkAt', 'unlinkFileAt', 'removeDirectoryAt'];
for (const name of changes) {
  const call = prototype[name];
  prototype[name] = function (...args) {
    if (readOnly.has(this) || args.some((arg) => readOnly.has(arg))) throw 'read-only';
    return call.apply(this, args);
  };
}

// Opening for reading is allowed, and what is opened stays read-only.
const openAt = prototype.openAt;
prototype.openAt = function (pathFlags, path, openFlags, flags) {
  if (!readOnly.has(this)) return openAt.call(this, pathFlags, path, openFlags, flags);
  if (openFlags.create || openFlags.truncate || flags.write || flags.mutateDirectory) throw 'read-only';
  return markReadOnly(openAt.call(this, pathFlags, path, openFlags, flags));
};
