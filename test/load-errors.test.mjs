// What report and compare say of a file that is not a whole run: each case
// named for what it is (empty, not JSON, a result or a journal cut off), on
// one line with exit 2, never "no journal header" for a file that is no journal.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { runCli, tempDir } from './helpers/cli.mjs';

test('report and compare name an empty file, a non-JSON file, a compacted result cut off and a journal cut off in its header for what they are', (t) => {
  const dir = tempDir(t);
  const json = path.join(dir, 'r.json');
  assert.equal(runCli(['--cores', '1', '--iterations', '100', '-q', '--json', json]).code, 0);
  const compact = JSON.stringify(JSON.parse(readFileSync(json, 'utf8')));
  const header = readFileSync(`${json}.jsonl`, 'utf8').split('\n')[0];
  const cases = [
    ['empty.json', '', /: empty, not a close-stress result or journal$/],
    ['notes.txt', 'garbage\nmore\n', /: not a close-stress result or journal \(not JSON: [^\n]*\)$/],
    ['compact.json', compact.slice(0, 400), /: a close-stress result cut off after 400 bytes, a truncated result \(/],
    ['torn.jsonl', header.slice(0, 200), /: a close-stress journal cut off inside its header after 200 bytes: no step was recorded$/],
  ];
  for (const [name, text, message] of cases) {
    const file = path.join(dir, name);
    writeFileSync(file, text);
    for (const args of [['report', file], ['compare', json, file]]) {
      const r = runCli(args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.equal(r.stderr.split('\n').length, 2, `one line: ${r.stderr}`);
      assert.match(r.stderr.trimEnd(), message);
      assert.doesNotMatch(r.stderr, /journal header/);
    }
  }
});
