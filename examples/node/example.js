// Pushes a chart to a registry and pulls it back, with the component on Node.js.
// Usage: node example.js CHART_DIR REGISTRY   (e.g. tests/fixtures/hello localhost:5000)
import { pull, push } from './helm-oci.js';

const [chart, registry] = process.argv.slice(2);
const connection = { plainHttp: true }; // and { username, password } for a registry that wants them

// Granted: the chart directory (read-only) and the registry's host, nothing else.
const pushed = await push(chart, `oci://${registry}/charts`, connection);
console.log(`Pushed: ${pushed.reference}\nDigest: ${pushed.digest}`);

// Granted: ./charts and ./cache (read-write) and the registry's host.
const pulled = await pull(`oci://${pushed.reference}`, { destination: 'charts', cache: 'cache', ...connection });
console.log(`Pulled: ${pulled.path} (${pulled.chart.name} ${pulled.chart.version}, ${pulled.digest})`);
