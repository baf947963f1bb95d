// summarize.mjs compares one conformance run's results with its
// expected-failures file and prints a JSON summary on stdout.
//
//   node summarize.mjs <results-dir> <expected-failures.yml>
//
// A scenario fails when any of its checks is FAILURE or WARNING: that is the
// rule the conformance CLI itself applies when given --expected-failures.
// Scenario result directories are named server-<scenario>-<timestamp>.
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';

const [resultsDir, expectedFile] = process.argv.slice(2);
if (!resultsDir || !expectedFile) {
  console.error('usage: node summarize.mjs <results-dir> <expected-failures.yml>');
  process.exit(2);
}

const doc = parse(readFileSync(expectedFile, 'utf8')) ?? {};
const expected = new Set(doc.server ?? []);

const stamp = /-\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}-\d{3}Z$/;
const scenarios = new Map();
for (const entry of readdirSync(resultsDir, { withFileTypes: true })) {
  if (!entry.isDirectory() || !entry.name.startsWith('server-')) continue;
  const checksFile = join(resultsDir, entry.name, 'checks.json');
  if (!existsSync(checksFile)) continue;
  const name = entry.name.slice('server-'.length).replace(stamp, '');
  const checks = JSON.parse(readFileSync(checksFile, 'utf8'));
  const bad = checks.filter((c) => c.status === 'FAILURE' || c.status === 'WARNING');
  scenarios.set(name, {
    failed: bad.length > 0,
    problems: bad.map((c) => `${c.id} ${c.status}: ${c.errorMessage ?? ''}`.trim()),
  });
}

const out = { total: scenarios.size, passed: 0, expected: [], unexpected: [], stale: [], missing: [] };
for (const [name, s] of [...scenarios].sort()) {
  if (!s.failed) {
    out.passed++;
    if (expected.has(name)) out.stale.push(name);
  } else if (expected.has(name)) {
    out.expected.push(name);
  } else {
    out.unexpected.push({ name, problems: s.problems });
  }
}
// An expected failure that did not run at all is reported, not counted as
// stale: it may belong to a scenario this suite version does not have.
for (const name of expected) if (!scenarios.has(name)) out.missing.push(name);
console.log(JSON.stringify(out));
