// A flag written without its value takes the next flag as the value; the
// error names the flag that lost its value, not the stray argument after it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runCli } from './helpers/cli.mjs';

test('a flag missing its value before another flag is named as the one that needs a value', () => {
  const cases = [
    [['--cores', '--iterations', '100'], "close-stress: error: --cores needs a value, not the flag '--iterations'\n"],
    [['--iterations', '--cores', '2'], "close-stress: error: --iterations needs a value, not the flag '--cores'\n"],
    // A negative skew is a value, not a flag: the stray argument is still the one named.
    [['--race', 'cross-thread', '--skew', '-2us', 'extra'], "close-stress: error: unexpected argument 'extra': close-stress takes only flags (see --help)\n"],
  ];
  for (const [args, message] of cases) {
    const r = runCli([...args, '-q']);
    assert.equal(r.code, 2, r.stderr);
    assert.equal(r.stderr, message);
  }
});
