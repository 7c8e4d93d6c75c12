// Flag parsing, in process: every invalid input is one UsageError line naming
// the flag; every valid one yields the Options it says.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import fc from 'fast-check';
import { parseArgs } from '../dist/cli.js';
import { MAX_CORES } from '../dist/options/options.js';
import { UsageError } from '../dist/common/errors.js';
import { runCli, sum, tempDir } from './helpers/cli.mjs';

const CPUS = 2;
const parse = (...args) => parseArgs(['node', 'close-stress', ...args], CPUS);
const RUNS = { numRuns: 200 };

function refused(args, ...mustName) {
  let err;
  try {
    parse(...args);
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof UsageError, `${JSON.stringify(args)} was accepted`);
  assert.equal(err.exitCode, 2);
  assert.ok(!err.message.includes('\n'), `more than one line: ${err.message}`);
  for (const word of mustName) assert.ok(err.message.includes(word), `'${err.message}' does not name ${word}`);
  return err.message;
}

const validCount = /^[0-9]+(_[0-9]+)*$|^[0-9]+(\.[0-9]+)?[eE]\+?[0-9]+$/;
const isValidCount = (s) => {
  const t = s.trim();
  if (!validCount.test(t)) return false;
  const v = Number(t.replaceAll('_', ''));
  return Number.isInteger(v) && v >= 1 && v < 2 ** 53;
};

// Strings, numbers of every kind, as a user might type them.
const countText = fc.oneof(
  fc.string(),
  fc.double().map(String),
  fc.integer({ min: -1e6, max: 0 }).map(String),
  fc.bigInt({ min: 2n ** 53n, max: 10n ** 400n }).map(String),
  fc.constantFrom('', ' ', 'NaN', 'Infinity', '-Infinity', '1e400', '0x10', '1.5', '-1', '+1', '1e-3', '1_', '_1', '1__0', '9007199254740992', '2e53'),
);

for (const flag of ['--iterations', '--cores']) {
  test(`${flag}: anything that is not a positive integer below 2^53 is refused naming ${flag} and what it takes`, () => {
    fc.assert(
      fc.property(countText, (text) => {
        if (isValidCount(text)) return; // valid: covered below
        if (flag === '--cores' && text.includes(',')) return; // a list: its own test
        refused([`${flag}=${text}`], flag, 'takes');
      }),
      RUNS,
    );
  });
}

test('--iterations: a positive integer below 2^53 in any accepted spelling runs that many trials', (t) => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }), fc.constantFrom('plain', 'underscores', 'exp'), (n, style) => {
      let text = String(n);
      if (style === 'underscores') text = text.replace(/\B(?=(\d{3})+(?!\d))/g, '_');
      if (style === 'exp') {
        const zeros = text.match(/0*$/)[0].length;
        if (zeros > 0) text = `${text.slice(0, text.length - zeros)}e${zeros}`;
      }
      assert.equal(parse('--iterations', text).iterations, n);
    }),
    RUNS,
  );
  // and a real run does that many: each spelling of a small count, every trial accounted for
  for (const [text, n] of [['1_234', 1234], ['2.5e3', 2500]]) {
    const json = path.join(tempDir(t), 'r.json');
    const r = runCli(['--cores', '2', '--iterations', text, '--json', json, '-q']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.result.options.iterations, n);
    assert.deepEqual(r.result.steps.map((s) => [s.cores, s.trials]), [[1, n], [2, n]]);
    for (const s of r.result.steps) assert.equal(s.calls.close.ok + sum(s.calls.close.errors) + s.setupFailed, n);
  }
});

test('--iterations above 2^53 is refused, naming the bound', () => {
  for (const text of ['9007199254740992', '9007199254740993', '1e16', '1e400', '9'.repeat(500)]) {
    refused(['--iterations', text], '--iterations', '2^53');
  }
});

test(`--cores above the cap (${MAX_CORES}) is refused naming the cap, for a count or any member of a list`, () => {
  fc.assert(
    fc.property(fc.integer({ min: MAX_CORES + 1, max: 2 ** 40 }), fc.boolean(), (n, asList) => {
      refused(['--cores', asList ? `1,${n}` : String(n)], '--cores', String(MAX_CORES));
    }),
    RUNS,
  );
  refused(['--cores', '99999'], '--cores', String(MAX_CORES));
});

test('--cores: a count sweeps powers of two up to it; a list runs exactly its members; a repeated member is refused', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: MAX_CORES }), (n) => {
      const powers = [];
      for (let p = 1; p < n; p *= 2) powers.push(p);
      assert.deepEqual(parse('--cores', String(n)).cores, [...powers, n]);
      assert.deepEqual(parse('--cores', String(n), '--no-sweep').cores, [n]);
    }),
    RUNS,
  );
  fc.assert(
    fc.property(fc.uniqueArray(fc.integer({ min: 1, max: MAX_CORES }), { minLength: 2, maxLength: 8 }), (list) => {
      // exactly its members, in the order given; no sweep fills the gaps
      assert.deepEqual(parse('--cores', list.join(',')).cores, list);
      assert.deepEqual(parse('--cores', list.join(','), '--no-sweep').cores, list);
    }),
    RUNS,
  );
  refused(['--cores', '2,2'], '--cores', 'twice');
  refused(['--cores', '1,,2'], '--cores', 'takes');
});

const CHOICES = { '--race': ['same-thread', 'cross-thread'], '--reset-side': ['server', 'client'], '--family': ['4', '6'], '--log-level': ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] };

for (const [flag, choices] of Object.entries(CHOICES)) {
  test(`${flag} takes ${choices.join(' or ')}, and any other value is refused naming the choices`, () => {
    for (const c of choices) assert.doesNotThrow(() => parse(flag, c));
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.double().map(String), fc.constantFrom('', '4.0', ' 4', 'SERVER', 'Same-Thread')), (text) => {
        fc.pre(!choices.includes(text));
        refused([`${flag}=${text}`], flag, choices[0], choices[1]);
      }),
      RUNS,
    );
  });
}

const FLAGS = [['--cores', '1'], ['--iterations', '10'], ['--race', 'same-thread'], ['--reset-side', 'server'], ['--family', '4'], ['--log-level', 'warn'], ['--quiet'], ['-q'], ['--no-sweep'], ['--force']];

test('a flag given twice is refused (commander would silently keep the last), naming the flag', () => {
  fc.assert(
    fc.property(fc.constantFrom(...FLAGS), fc.constantFrom(...FLAGS), (a, b) => {
      const name = (f) => (f[0] === '-q' ? '--quiet' : f[0]);
      fc.pre(name(a) === name(b));
      refused([...a, ...b], 'twice', name(a));
    }),
    RUNS,
  );
  refused(['--iterations', '5', '--iterations', '6'], '--iterations', 'twice');
  refused(['--cores=2', '--cores', '2'], '--cores', 'twice');
});

test('unknown flags and stray arguments are refused, on one line, naming them', () => {
  const known = new Set(['--cores', '--no-sweep', '--iterations', '--race', '--reset-side', '--family', '--json', '--force', '--quiet', '--log-file', '--log-level', '--help', '--version']);
  fc.assert(
    fc.property(fc.stringMatching(/^[a-z][a-z-]{0,15}$/), (word) => {
      fc.pre(!known.has(`--${word}`));
      refused([`--${word}`], `--${word}`);
    }),
    RUNS,
  );
  refused(['extra'], "'extra'");
  refused(['--no-sweep=1'], '--no-sweep=1');
  refused(['--iterations'], '--iterations');
});

test('any combination of valid flags parses to the Options it names', () => {
  fc.assert(
    fc.property(
      fc.record({
        cores: fc.integer({ min: 1, max: 64 }),
        iterations: fc.integer({ min: 1, max: 1e9 }),
        race: fc.constantFrom(...CHOICES['--race']),
        side: fc.constantFrom(...CHOICES['--reset-side']),
        family: fc.constantFrom('4', '6'),
        sweep: fc.boolean(),
        quiet: fc.boolean(),
      }),
      (o) => {
        const args = ['--cores', String(o.cores), '--iterations', String(o.iterations), '--race', o.race, '--reset-side', o.side, '--family', o.family];
        if (!o.sweep) args.push('--no-sweep');
        if (o.quiet) args.push('-q');
        const opts = parse(...args);
        assert.equal(opts.iterations, o.iterations);
        assert.equal(opts.race, o.race);
        assert.equal(opts.resetSide, o.side);
        assert.equal(opts.family, Number(o.family));
        assert.equal(opts.quiet, o.quiet);
        assert.equal(opts.cores.at(-1), o.cores);
      },
    ),
    RUNS,
  );
});
