#!/usr/bin/env node
// A small command line over helm-oci.js: each command prints what the component returned,
// as JSON; a failure is one `Error: …` line on stderr and exit code 1.
//
//   node cli.js push CHART oci://HOST/NAMESPACE [connection flags]
//   node cli.js pull REF [--version V] [--devel] [-d DIR] [--untar] [--cache DIR] [connection flags]
//   node cli.js tags oci://HOST/PATH/NAME [--version C] [--devel] [--all] [connection flags]
//   node cli.js search HOST[/NAMESPACE] [TERM] [--version C] [--devel] [-l] [connection flags]
//   node cli.js save CHART REF [--cache DIR]
//   node cli.js list [--cache DIR]
//   node cli.js version
// Connection flags: --plain-http, -u/--username, -p/--password, --allow-host HOST
// (repeatable), --debug. The cache is Helm's ($HELM_CACHE_HOME/oci, else ~/.cache/helm/oci)
// unless --cache names another.

import { parseArgs } from 'node:util';
import * as helmOci from './helm-oci.js';

const options = {
  'plain-http': { type: 'boolean' },
  username: { type: 'string', short: 'u' },
  password: { type: 'string', short: 'p' },
  'allow-host': { type: 'string', multiple: true },
  debug: { type: 'boolean' },
  version: { type: 'string' },
  devel: { type: 'boolean' },
  all: { type: 'boolean' },
  versions: { type: 'boolean', short: 'l' },
  destination: { type: 'string', short: 'd' },
  untar: { type: 'boolean' },
  cache: { type: 'string' },
};

async function main() {
  const { values: flags, positionals: [command, ...args] } = parseArgs({ options, allowPositionals: true });
  const connection = {
    username: flags.username, password: flags.password, plainHttp: flags['plain-http'],
    hosts: flags['allow-host'], debug: flags.debug,
  };
  const picked = { version: flags.version, devel: flags.devel };
  const { cache } = flags;
  // Each command's arguments (those in brackets may be left out), and what it runs.
  const commands = {
    push: ['CHART oci://HOST/NAMESPACE', ([chart, remote]) => helmOci.push(chart, remote, connection)],
    pull: ['REF', ([ref]) => helmOci.pull(ref, { ...picked, cache, destination: flags.destination, untar: flags.untar,
      ...connection })],
    tags: ['oci://HOST/PATH/NAME', ([repository]) => helmOci.tags(repository, { ...picked, all: flags.all, ...connection })],
    search: ['HOST[/NAMESPACE] [TERM]', ([target, term]) => helmOci.search(target, { ...picked, term,
      allVersions: flags.versions, ...connection })],
    save: ['CHART REF', ([chart, ref]) => helmOci.save(chart, ref, { cache })],
    list: ['', () => helmOci.list({ cache })],
    version: ['', () => helmOci.version()],
  };
  if (!commands[command]) throw new Error(`unknown command ${JSON.stringify(command ?? '')}: one of ${Object.keys(commands).join(', ')}`);
  const [usage, run] = commands[command];
  const words = usage.split(' ').filter(Boolean);
  const required = words.filter((w) => !w.startsWith('[')).length;
  if (args.length < required || args.length > words.length) {
    throw new Error(`expected \`node cli.js ${command}${usage ? ` ${usage}` : ''}\`, got ${args.length} argument${args.length === 1 ? '' : 's'}`);
  }
  return run(args);
}

try {
  // u64 and s64 values (sizes, times) are BigInts; JSON takes them as numbers.
  console.log(JSON.stringify(await main(), (_, v) => (typeof v === 'bigint' ? Number(v) : v), 2));
} catch (e) {
  console.error(`Error: ${e.message}`);
  process.exitCode = 1;
}
