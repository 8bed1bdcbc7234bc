/**
 * npm run bench [-- --sizes 10000,100000,1000000] [--rounds 5] [--read-ms 1000]
 *               [--heavy-rounds 3] [--quick] [--skip-existing] [--out DIR] [--json]
 *
 * Tally beside its peers on the same work, in one run: raw lmdb-js (the
 * floor), an events table in SQLite (better-sqlite3) and an append-only
 * JSON-lines file (bench/peers/). Then the existing benches
 * (bench:journal, bench:store, bench:server, bench:audit), each in a child
 * process with --json. Writes BENCHMARKS.md and one SVG chart per workload
 * (docs/ and docs/bench/ by default).
 *
 * --quick: sizes 10k only, short rounds, small sizes for the existing
 * benches; writes to bench/out/ (git-ignored) unless --out says otherwise,
 * and the report says in its first lines that it is a quick run.
 * --heavy-rounds: rounds of verify/rebuild at sizes of 1M and more.
 *
 * Exit code 1 when one of the existing benches crashed (the report names
 * it); goals not met are reported, not failed.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, freemem, release, totalmem, type as osType } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import { benchDir } from './harness.js';
import { compare, WORKLOAD_INFO, WORKLOADS, type Measure, type WorkloadId } from './peers/compare.js';
import { barChart, lineChart, shortNumber, type Series } from './svg-chart.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const argv = process.argv.slice(2);
const flag = (name: string) => argv.includes(`--${name}`);
const arg = (name: string): string | undefined => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : undefined;
};

const quick = flag('quick');
const jsonOut = flag('json');
const sizes = (arg('sizes') ?? (quick ? '10000' : '10000,100000,1000000')).split(',').map((s) => Number(s.replace(/_/g, '')));
if (sizes.some((s) => !Number.isSafeInteger(s) || s < 100)) throw new Error(`--sizes expects comma-separated integers >= 100, got ${arg('sizes')}`);
const rounds = Number(arg('rounds') ?? (quick ? 3 : 5));
const readMs = Number(arg('read-ms') ?? (quick ? 200 : 1000));
const heavyRoundsBig = Number(arg('heavy-rounds') ?? 3);
const outDir = join(root, arg('out') ?? (quick ? 'bench/out' : 'docs'));
const chartDir = join(outDir, 'bench');
const log = (s: string) => process.stderr.write(s + '\n');

const commandLine = `npm run bench${argv.length ? ` -- ${argv.join(' ')}` : ''}`;

// ---- machine ------------------------------------------------------------------

function pkgVersion(name: string): string {
  try {
    return (JSON.parse(readFileSync(join(root, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

async function git(...args: string[]): Promise<string> {
  try {
    return (await promisify(execFile)('git', args, { cwd: root })).stdout.trim();
  } catch {
    return 'unknown';
  }
}

const mem = new Database(':memory:');
const machine = {
  cpu: cpus()[0]?.model ?? 'unknown',
  cores: cpus().length,
  memoryGiB: Number((totalmem() / 2 ** 30).toFixed(1)),
  freeMemoryGiB: Number((freemem() / 2 ** 30).toFixed(1)),
  os: `${osType()} ${release()}`,
  node: process.version,
  lmdb: pkgVersion('lmdb'),
  betterSqlite3: pkgVersion('better-sqlite3'),
  sqlite: (mem.prepare('SELECT sqlite_version() AS v').get() as { v: string }).v,
  hashWasm: pkgVersion('hash-wasm'),
  commit: `${await git('rev-parse', '--short', 'HEAD')}${(await git('status', '--porcelain', '--', 'src')) ? ' (with uncommitted changes in src/)' : ''}`,
  date: new Date().toISOString(),
};
mem.close();

// ---- peers ----------------------------------------------------------------------

const t0 = performance.now();
log(`peers: sizes ${sizes.join(', ')}, ${rounds} rounds, ${readMs} ms per read round${quick ? ' (quick)' : ''}`);
const cmp = await compare({
  sizes,
  rounds,
  readMs,
  appendCounts: quick ? { 1: 100, 8: 400, 64: 1600 } : { 1: 300, 8: 1500, 64: 6000 },
  heavyRoundsBig,
  dir: benchDir('tally-bench-peers-'),
  log,
});

// ---- the existing benches ---------------------------------------------------------

interface ChildBench {
  script: string;
  args: string[];
  seconds: number;
  result?: unknown;
  error?: string;
}
const children: ChildBench[] = [];
if (!flag('skip-existing')) {
  const plan: [string, string[]][] = quick
    ? [
        ['journal.bench.ts', ['--ms', '300', '--rounds', '1', '--verify-events', '10000']],
        ['store.bench.ts', ['--big', '24000', '--small', '12000']],
        ['server.bench.ts', ['--ms', '500']],
        ['audit.bench.ts', ['--events', '10000']],
      ]
    : [
        ['journal.bench.ts', []],
        ['store.bench.ts', []],
        ['server.bench.ts', []],
        ['audit.bench.ts', []],
      ];
  for (const [script, args] of plan) {
    log(`${script} ${args.join(' ')}`);
    const c0 = performance.now();
    const entry: ChildBench = { script, args, seconds: 0 };
    try {
      const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', join(root, 'bench', script), '--json', ...args], { cwd: root, maxBuffer: 64 << 20 });
      const last = stdout.trim().split('\n').pop() ?? '';
      entry.result = JSON.parse(last);
    } catch (err) {
      entry.error = String((err as { stderr?: string }).stderr || (err as Error).message).trim().split('\n').slice(-5).join(' / ');
    }
    entry.seconds = (performance.now() - c0) / 1000;
    children.push(entry);
  }
}
const totalSeconds = (performance.now() - t0) / 1000;

// ---- report -------------------------------------------------------------------------

const COLORS: Record<string, string> = { Tally: '#2563eb', SQLite: '#ea8a1a', 'raw lmdb': '#8a8f98', JSONL: '#2e9e5b' };
const sizeLabel = (n: number) => (n >= 1e6 && n % 1e6 === 0 ? `${n / 1e6}M` : n >= 1e3 && n % 1e3 === 0 ? `${n / 1e3}k` : shortNumber(n));
/** Label of a stage: its real event count (equal to the size unless earlier appends overshot it). */
const stageLabel = (size: number) => sizeLabel(cmp.events[size] ?? size);
const peerNames = cmp.peers.map((p) => p.name);
const others = peerNames.filter((n) => n !== 'Tally');
const m = (size: number, w: WorkloadId, peer: string): Measure | null | undefined => cmp.results[size]?.[w]?.[peer];
const ratio = (size: number, w: WorkloadId, peer: string): number | null => {
  const a = m(size, w, 'Tally');
  const b = m(size, w, peer);
  return a && b ? a.median / b.median : null;
};
const fx = (r: number | null) => (r === null ? '—' : `${r.toFixed(2)}×`);
const cell = (x: Measure | null | undefined) => {
  if (!x) return 'n/a';
  if (x.runs.length < 2) return shortNumber(x.median);
  return `${shortNumber(x.median)} <sub>(${shortNumber(Math.min(...x.runs))}–${shortNumber(Math.max(...x.runs))})</sub>`;
};

interface Goal {
  text: string;
  workloads: WorkloadId[];
  peer: string;
  min: number;
}
const GOALS: Goal[] = [
  { text: 'durable appends ≥ 1.5× SQLite', workloads: ['append-1', 'append-8', 'append-64'], peer: 'SQLite', min: 1.5 },
  { text: 'reads ≥ 1× SQLite', workloads: ['get', 'list', 'asof'], peer: 'SQLite', min: 1 },
  { text: 'reads within 2× of raw lmdb (ratio ≥ 0.5×)', workloads: ['get', 'list', 'asof'], peer: 'raw lmdb', min: 0.5 },
];
const goalRows: { goal: string; workload: WorkloadId; size: number; ratio: number | null; met: boolean }[] = [];
for (const g of GOALS) {
  for (const w of g.workloads) {
    for (const size of sizes) {
      const r = ratio(size, w, g.peer);
      goalRows.push({ goal: g.text, workload: w, size, ratio: r, met: r !== null && r >= g.min });
    }
  }
}

mkdirSync(chartDir, { recursive: true });
const chartLink = (file: string) => relative(outDir, join(chartDir, file)).split('\\').join('/');
const md: string[] = [];
md.push('# Benchmarks', '');
if (quick) {
  md.push(
    '> **QUICK RUN — not the published result.** Made with `--quick`: 10k events only, short rounds, small sizes for the other benches.',
    '> It shows that the bench works end to end; its figures are rough. Run `npm run bench` for the real report.',
    '',
  );
}
md.push(
  `Tally beside the alternatives users weigh it against — an events table in SQLite, a plain LMDB store and an append-only JSON-lines file — doing the same work in the same process, in one run (issue 9).`,
  '',
  `Generated by \`${commandLine}\` on ${machine.date.slice(0, 10)}; the run took ${(totalSeconds / 60).toFixed(1)} min (${(cmp.seconds / 60).toFixed(1)} min for the peers comparison).`,
  '',
  '## Machine',
  '',
  '| | |',
  '|---|---|',
  `| CPU | ${machine.cpu}, ${machine.cores} logical cores |`,
  `| memory | ${machine.memoryGiB} GiB (${machine.freeMemoryGiB} GiB free at the end) |`,
  `| OS | ${machine.os} |`,
  `| Node | ${machine.node} |`,
  `| lmdb-js | ${machine.lmdb} |`,
  `| better-sqlite3 / SQLite | ${machine.betterSqlite3} / ${machine.sqlite} |`,
  `| hash-wasm (BLAKE3) | ${machine.hashWasm} |`,
  `| Tally commit | ${machine.commit} |`,
  `| date | ${machine.date} |`,
  '',
  '## What is compared',
  '',
  '| peer | per write / per read |',
  '|---|---|',
  ...cmp.peers.map((p) => `| **${p.name}** | ${p.description} |`),
  '',
  `- **Data.** Every store is pre-filled with the same writes: block sets over ${cmp.keys.toLocaleString('en')} keys \`user:000000…\`, data \`{ name, plan, n, tags, i }\`, in batches of 1,000, up to each size (${sizes.map(stageLabel).join(', ')} events). Sizes are visited in increasing order on the same stores; the appends measured at one size are part of the next size's journal.`,
  '- **Same answers.** Before and after the read workloads of every size, every peer must return the same data and version for sample gets, prefix lists and as-of reads (the run stops otherwise).',
  `- **Interleaving.** The machine is shared and noisy, so every workload runs in ${rounds} rounds; each round runs every peer once, and the peer order rotates every round. Tables give the **median** of the rounds with the (min–max) range below it; ratios are Tally's median over the peer's. Reads run ${readMs} ms per round after an untimed warm-up; verify and rebuild run one full pass per round (${heavyRoundsBig} rounds at sizes of 1M and more); appends run a fixed number of writes per round (so every journal keeps the same length).`,
  '- **Durability.** Tally acknowledges after the synchronous LMDB commit and sync; raw lmdb after lmdb-js `flushed` (overlappingSync); SQLite runs WAL with `synchronous=FULL`; JSONL fsyncs its file once per batch. Each write is awaited by its writer.',
  '- **Not the same work, where it cannot be:** Tally additionally maintains a Merkle tree, per-key links, salted payload commitments and as-of snapshots, and returns an inclusion proof with every receipt; SQLite answers as-of reads from its events table (index on key, seq); raw lmdb keeps a history entry per write for as-of reads but has no chain to verify or replay; JSONL reads current state from memory and has no durable index.',
  '',
);

// Goals.
md.push('## Goals of issue 9', '');
for (const g of GOALS) {
  const rows = goalRows.filter((r) => r.goal === g.text);
  const met = rows.filter((r) => r.met).length;
  md.push(`- **${g.text}**: ${met === rows.length ? '**met**' : met === 0 ? '**not met**' : `**met in ${met} of ${rows.length} cases**`} — ${rows.map((r) => `${r.workload} @ ${stageLabel(r.size)}: ${fx(r.ratio)}${r.met ? '' : ' ✗'}`).join(', ')}`);
}
md.push('');

// Ratios.
md.push('## Tally / peer ratios', '', 'Above 1× Tally is faster; below, slower.', '');
md.push(`| workload | ${sizes.flatMap((s) => others.map((p) => `${stageLabel(s)} vs ${p}`)).join(' | ')} |`);
md.push(`|---|${sizes.flatMap(() => others.map(() => '---:')).join('|')}|`);
for (const w of WORKLOADS) md.push(`| ${WORKLOAD_INFO[w].title} | ${sizes.flatMap((s) => others.map((p) => fx(ratio(s, w, p)))).join(' | ')} |`);
md.push('');
const sizeColors = ['#93c5fd', '#3b82f6', '#1e3a8a', '#0f172a'];
writeFileSync(
  join(chartDir, 'ratio-sqlite.svg'),
  barChart({
    title: 'Tally / SQLite by workload and journal size (above 1: Tally faster)',
    yLabel: 'Tally / SQLite',
    categories: [...WORKLOADS],
    series: sizes.map((s, i) => ({ name: `${stageLabel(s)} events`, color: sizeColors[i % sizeColors.length]!, values: WORKLOADS.map((w) => ratio(s, w, 'SQLite')) })),
    references: [
      { value: 1, label: '1×' },
      { value: 1.5, label: '1.5× (append goal)' },
    ],
    log: true,
    width: 900,
  }),
);
md.push(`![Tally / SQLite ratio by workload and size](${chartLink('ratio-sqlite.svg')})`, '');
if (sizes.length > 1) {
  // Growth of cost with size: each peer's throughput at every size relative to its own at the smallest.
  md.push('### How cost grows with size', '', `Tally's throughput at each size relative to its own at ${stageLabel(sizes[0]!)} (1 = no slower; 0.5 = half as fast).`, '');
  const palette = ['#2563eb', '#ea8a1a', '#2e9e5b', '#8e44ad', '#c0392b', '#16a085', '#7f8c8d', '#d35400', '#34495e'];
  writeFileSync(
    join(chartDir, 'growth-tally.svg'),
    lineChart({
      title: `Tally throughput relative to ${stageLabel(sizes[0]!)} events`,
      yLabel: `throughput / throughput at ${stageLabel(sizes[0]!)}`,
      categories: sizes.map((s) => `${stageLabel(s)} events`),
      series: WORKLOADS.map((w, i) => {
        const base = m(sizes[0]!, w, 'Tally')?.median;
        return { name: w, color: palette[i % palette.length]!, values: sizes.map((s) => (base && m(s, w, 'Tally') ? m(s, w, 'Tally')!.median / base : null)) };
      }),
      references: [{ value: 1, label: 'as fast as at the smallest size' }],
      width: 900,
      height: 400,
    }),
  );
  md.push(`![Tally throughput by size](${chartLink('growth-tally.svg')})`, '');
}

// One section per workload.
md.push('## Workloads', '');
for (const w of WORKLOADS) {
  const info = WORKLOAD_INFO[w];
  md.push(`### ${info.title}`, '', `${info.what[0]!.toUpperCase()}${info.what.slice(1)}. Unit: ${info.unit}, higher is better.`, '');
  md.push(`| events | ${peerNames.join(' | ')} | ${others.map((p) => `Tally / ${p}`).join(' | ')} |`);
  md.push(`|---:|${peerNames.map(() => '---:').join('|')}|${others.map(() => '---:').join('|')}|`);
  for (const s of sizes) md.push(`| ${stageLabel(s)} | ${peerNames.map((p) => cell(m(s, w, p))).join(' | ')} | ${others.map((p) => fx(ratio(s, w, p))).join(' | ')} |`);
  const series: Series[] = peerNames.map((p) => ({ name: p, color: COLORS[p] ?? '#555', values: sizes.map((s) => m(s, w, p)?.median ?? null) }));
  const file = `${w}.svg`;
  writeFileSync(join(chartDir, file), barChart({ title: `${info.title} (${info.unit})`, yLabel: `${info.unit}, higher is better`, categories: sizes.map((s) => `${stageLabel(s)} events`), series }));
  md.push('', `![${info.title}](${chartLink(file)})`, '');
}

// The other benches.
if (children.length) {
  md.push('## The other benches', '', 'Each in its own process with `--json`, after the comparison above; their own notes explain the figures.', '');
  for (const c of children) {
    md.push(`### \`npm run bench:${c.script.replace('.bench.ts', '')}${c.args.length ? ` -- ${c.args.join(' ')}` : ''}\` (${c.seconds.toFixed(0)} s)`, '');
    if (c.error || c.result === undefined) {
      md.push(`Failed: \`${(c.error ?? 'no result').replace(/`/g, "'")}\``, '');
      continue;
    }
    md.push('| measure | value |', '|---|---:|');
    for (const [k, v] of flatten(c.result)) md.push(`| ${k} | ${typeof v === 'number' ? v.toLocaleString('en') : String(v)} |`);
    md.push('');
  }
}

md.push(
  '## Reproduce',
  '',
  '```sh',
  'npm run bench                                  # sizes 10k, 100k, 1M and every other bench; writes docs/BENCHMARKS.md',
  'npm run bench -- --sizes 10000,100000          # other sizes',
  'npm run bench -- --quick                       # 10k only, short rounds; writes bench/out/BENCHMARKS.md',
  'npm run bench -- --skip-existing --rounds 3    # only the peers comparison, fewer rounds',
  '```',
  '',
  'Raw figures of this run: ' + `[${chartLink('results.json')}](${chartLink('results.json')})` + '.',
  '',
);

function flatten(x: unknown, prefix = ''): [string, unknown][] {
  if (x && typeof x === 'object' && !Array.isArray(x)) return Object.entries(x).flatMap(([k, v]) => flatten(v, prefix ? `${prefix}.${k}` : k));
  return [[prefix, Array.isArray(x) ? JSON.stringify(x) : x]];
}

const resultsJson = { quick, command: commandLine, machine, sizes, rounds, readMs, comparison: cmp, goals: goalRows, others: children, seconds: totalSeconds };
writeFileSync(join(chartDir, 'results.json'), JSON.stringify(resultsJson, null, 2) + '\n');
writeFileSync(join(outDir, 'BENCHMARKS.md'), md.join('\n'));

// Console summary.
const rows: Record<string, string>[] = [];
for (const w of WORKLOADS) {
  for (const s of sizes) {
    const row: Record<string, string> = { workload: w, events: stageLabel(s) };
    for (const p of peerNames) row[p] = m(s, w, p) ? shortNumber(m(s, w, p)!.median) : 'n/a';
    for (const p of others) row[`T/${p}`] = fx(ratio(s, w, p));
    rows.push(row);
  }
}
if (jsonOut) console.log(JSON.stringify(resultsJson));
else {
  console.table(rows);
  for (const g of GOALS) {
    const r = goalRows.filter((x) => x.goal === g.text);
    console.log(`${g.text}: ${r.filter((x) => x.met).length}/${r.length} met`);
  }
  console.log(`wrote ${relative(root, join(outDir, 'BENCHMARKS.md'))} and ${relative(root, chartDir)}/*.svg in ${totalSeconds.toFixed(0)} s`);
}
// A bench that crashed fails the run (the report is still written, naming it); unmet goals do not.
const failed = children.filter((c) => c.error !== undefined);
for (const c of failed) log(`FAILED: ${c.script}: ${c.error}`);
process.exit(failed.length ? 1 : 0);
