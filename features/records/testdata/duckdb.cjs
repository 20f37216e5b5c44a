// Reads a Parquet file of feature records with DuckDB and prints every row
// as JSON, each float as a string that parses back to the same number
// ("NaN", "-0"), each integer as a decimal string; then copies the file
// with DuckDB's own Parquet writer (variable lists), keeping ctrecon's
// key-value metadata.
//
//   node duckdb.cjs NODE_API_DIR IN.parquet OUT.parquet
const [apiDir, input, output] = process.argv.slice(2);
const duckdb = require(apiDir);

function plain(v) {
  if (v === null || v === undefined) return null;
  if (typeof v === 'bigint') return v.toString();
  if (typeof v === 'number') return Number.isNaN(v) ? 'NaN' : Object.is(v, -0) ? '-0' : v.toString();
  if (typeof v === 'string') return v;
  if (Array.isArray(v.items)) return v.items.map(plain);
  throw new Error('unexpected value ' + String(v) + ' of ' + (v.constructor && v.constructor.name));
}

function quote(s) { return "'" + s.replaceAll("'", "''") + "'"; }

(async () => {
  const instance = await duckdb.DuckDBInstance.create(':memory:');
  const conn = await instance.connect();
  const read = await conn.runAndReadAll('SELECT * FROM read_parquet(' + quote(input) + ')');
  const names = read.columnNames();
  const types = read.columnTypes().map(t => t.toString());
  const rows = read.getRows().map(r => r.map(plain));
  const kv = await conn.runAndReadAll('SELECT decode(key), decode(value) FROM parquet_kv_metadata(' + quote(input) + ')');
  const meta = {};
  for (const [k, v] of kv.getRows()) meta[k] = v;
  const keep = Object.entries(meta).filter(([k]) => k.startsWith('ctrecon.'))
    .map(([k, v]) => quote(k) + ': ' + quote(v)).join(', ');
  await conn.run('COPY (SELECT * FROM read_parquet(' + quote(input) + ')) TO ' + quote(output) +
    ' (FORMAT parquet, COMPRESSION zstd, KV_METADATA {' + keep + '})');
  process.stdout.write(JSON.stringify({ names, types, rows, meta }));
})().catch(e => { console.error(e.stack || String(e)); process.exit(1); });
