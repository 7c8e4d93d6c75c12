// close-stress(1): `man close-stress` is where FreeBSD developers look first.
// The page is written by hand, so this keeps it to the option definitions that
// --help prints: every flag of every command is in the page, and no other.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { root, runCli } from './helpers/cli.mjs';

const page = path.join(root, 'bin', 'close-stress.1');
const text = readFileSync(page, 'utf8');
const hasMandoc = spawnSync('mandoc', ['-V']).error === undefined;

/** `  -q, --quiet   no progress bars` -> ['-q', '--quiet'], for the lines of --help's Options: block. */
function helpFlags(help) {
  const block = help.split(/^Options:$/m)[1]?.split(/^\S/m)[0] ?? '';
  return block.split('\n')
    .map((line) => /^ {2}(-\w, )?(--[\w-]+)/.exec(line))
    .filter(Boolean)
    .flatMap((m) => (m[1] ? [m[1].slice(0, 2), m[2]] : [m[2]]));
}

function helpCommands(help) {
  const block = help.split(/^Commands:$/m)[1] ?? '';
  return [...block.matchAll(/^ {2}([a-z][\w-]*)/gm)].map((m) => m[1]).filter((c) => c !== 'help');
}

/** The `.Ss` subsection's `.It Fl ...` entries: `.It Fl q , Fl -quiet` -> ['-q', '--quiet']. */
function pageFlags(section) {
  const at = text.indexOf(`\n.Ss ${section}\n`);
  assert.ok(at >= 0, `the page has a subsection ".Ss ${section}"`);
  const body = text.slice(at + 1).split(/\n\.S[sh] /)[0];
  return [...body.matchAll(/^\.It (Fl .*)$/gm)]
    .flatMap((m) => [...m[1].matchAll(/Fl (-?[\w-]+)/g)].map((f) => `-${f[1]}`));
}

const sorted = (a) => [...a].sort();

test('the manual page lists exactly the run options of --help', () => {
  const r = runCli(['--help']);
  assert.equal(r.code, 0);
  assert.deepEqual(sorted(pageFlags('Run options')), sorted(helpFlags(r.stdout)));
});

test('the manual page has a subsection per command, listing exactly that command\'s --help options', () => {
  const main = runCli(['--help']).stdout;
  const commands = helpCommands(main);
  assert.ok(commands.includes('report') && commands.includes('compare'), `commands found in --help: ${commands}`);
  const subsections = [...text.matchAll(/^\.Ss (.+)$/gm)].map((m) => m[1]).filter((s) => s !== 'Run options');
  assert.deepEqual(sorted(subsections), sorted(commands));
  for (const cmd of commands) {
    const r = runCli([cmd, '--help']);
    assert.equal(r.code, 0, `${cmd} --help`);
    assert.deepEqual(sorted(pageFlags(cmd)), sorted(helpFlags(r.stdout)), `options of ${cmd}`);
  }
});

test('the manual page has the sections a BSD page has, the POSIX reference and the PR it comes from', () => {
  const sections = [...text.matchAll(/^\.Sh (.+)$/gm)].map((m) => m[1]);
  for (const s of ['NAME', 'SYNOPSIS', 'DESCRIPTION', 'EXIT STATUS', 'EXAMPLES', 'SEE ALSO', 'STANDARDS', 'HISTORY', 'CAVEATS', 'BUGS']) {
    assert.ok(sections.includes(s), `section ${s}`);
  }
  assert.match(text, /^\.Dt CLOSE-STRESS 1$/m);
  assert.match(text, /kern\/159179/);
  assert.match(text.split('.Sh STANDARDS')[1], /POSIX/);
});

test('mandoc -T lint finds nothing at warning level or above in the manual page', { skip: !hasMandoc && 'mandoc is not installed (Debian: apt-get install mandoc)' }, () => {
  // STYLE notes such as "referenced manual not found" depend on the pages installed here, not on ours.
  const r = spawnSync('mandoc', ['-T', 'lint', '-W', 'warning', page], { encoding: 'utf8' });
  assert.equal(r.stdout + r.stderr, '');
  assert.equal(r.status, 0);
});
