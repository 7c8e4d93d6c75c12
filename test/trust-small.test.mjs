// Small things a user reads: each option's error names its own example; the
// --journal help says what the flag does; a cut-off result says it is one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { runCli, tempDir } from './helpers/cli.mjs';

test('--repeat and --cores errors give their own example, not --iterations\' 1e6', () => {
  const cases = [
    [['--repeat', '1.5'], "close-stress: error: --repeat takes a positive integer (such as 5), not '1.5'\n"],
    [['--cores', '2,,4'], "close-stress: error: --cores takes a list of positive integers such as 2,8,16, not '2,,4'\n"],
    [['--cores', 'x'], "close-stress: error: --cores takes a positive integer (such as 16), not 'x'\n"],
    [['--iterations', 'lots'], "close-stress: error: --iterations takes a positive integer (1000000, 1_000_000 or 1e6), not 'lots'\n"],
  ];
  for (const [args, message] of cases) {
    const r = runCli([...args, '-q']);
    assert.equal(r.code, 2, r.stderr);
    assert.equal(r.stderr, message);
  }
});

test('--journal help and behaviour agree: a new journal; an existing one is refused, or started afresh with --force', (t) => {
  const help = runCli(['--help']).stdout.replace(/\s+/g, ' ');
  const line = /--journal <file> (.*?) --fail-on/.exec(help)?.[1] ?? '';
  assert.doesNotMatch(line, /append/i, `the help must not promise appending: ${line}`);
  assert.match(line, /refused unless --force/);
  const journal = path.join(tempDir(t), 'j.jsonl');
  writeFileSync(journal, '{"old":true}\n');
  const refused = runCli(['--cores', '1', '--iterations', '100', '-q', '--journal', journal]);
  assert.equal(refused.code, 2);
  assert.match(refused.stderr, /already exists; pass --force/);
  const forced = runCli(['--cores', '1', '--iterations', '100', '-q', '--journal', journal, '--force']);
  assert.equal(forced.code, 0, forced.stderr);
  const first = JSON.parse(readFileSync(journal, 'utf8').split('\n')[0]);
  assert.equal(first.type, 'run', '--force starts the journal afresh: nothing of the old file is kept');
});

test('a cut-off .json result given to report or compare is diagnosed as a truncated result', (t) => {
  const dir = tempDir(t);
  const json = path.join(dir, 'r.json');
  assert.equal(runCli(['--cores', '1', '--iterations', '100', '-q', '--json', json]).code, 0);
  const whole = readFileSync(json, 'utf8');
  const cut = path.join(dir, 'cut.json');
  const kept = Math.floor(whole.length / 2);
  assert.ok(kept > 1000);
  writeFileSync(cut, whole.slice(0, kept));
  for (const args of [['report', cut], ['compare', json, cut]]) {
    const r = runCli(args);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, new RegExp(`^close-stress: error: ${cut.replace(/[.]/g, '\\.')}: a close-stress result cut off after ${kept} bytes, a truncated result \\(.*\\); a run's journal \\(<--json>\\.jsonl\\) keeps its finished steps\\n$`));
    assert.doesNotMatch(r.stderr, /journal header/);
  }
});
