// close-stress inject: real programs run with FreeBSD's close(), and what the report says they did.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { bin, root, tempDir } from './helpers/cli.mjs';
import { assertValid } from './helpers/schema.mjs';
import { NO_STACK } from './helpers/spawn.mjs';

const linux = process.platform === 'linux';
const hasCc = spawnSync('cc', ['--version']).status === 0;
const python = spawnSync('python3', ['-c', 'import sys; print(sys.executable)'], { encoding: 'utf8' });
const pythonExe = python.status === 0 ? python.stdout.trim() : undefined;
const skipNative = !linux ? 'inject runs on Linux only' : !hasCc ? 'no C compiler (cc)' : false;

/** Compiles a test program once per source version into os.tmpdir(). */
function build(name, flags = []) {
  const src = path.join(root, 'test', 'helpers', 'inject-client.c');
  const hash = createHash('sha256').update(readFileSync(src)).update(flags.join(' ')).digest('hex').slice(0, 12);
  const out = path.join(tmpdir(), `close-stress-${name}-${hash}`);
  if (!existsSync(out)) {
    const tmp = `${out}.${process.pid}`;
    // -O0 keeps `return close(fd)` a call, not a tail jump: the site then names the function that retried.
    execFileSync('cc', ['-O0', '-g', '-pthread', ...flags, '-o', tmp, src]);
    execFileSync('mv', [tmp, out]);
  }
  return out;
}

function inject(args, { env = {} } = {}) {
  const r = spawnSync(process.execPath, [bin, 'inject', ...args], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Runs inject with --json and returns the validated report too. */
function injectJson(t, flags, command) {
  const file = path.join(tempDir(t), 'inject.json');
  const r = inject([...flags, '--json', file, '--', ...command]);
  assert.ok(existsSync(file), `no JSON written: ${r.stderr}`);
  const report = JSON.parse(readFileSync(file, 'utf8'));
  assertValid('inject', report);
  return { ...r, report };
}

test('a C program that retries close() after ECONNRESET is caught, with the retrying function named', { skip: skipNative }, (t) => {
  const client = build('inject-client');
  const { code, stdout, stderr, report } = injectJson(t, [], [client, 'retry']);
  assert.equal(code, 0, stderr);
  assert.match(stdout, /close: Connection reset by peer; retrying/);
  assert.match(stdout, /retry: Bad file descriptor/);
  assert.equal(report.summary.injected, 1);
  assert.equal(report.summary.retryFree, 1);
  assert.equal(report.summary.handledSilently, 0);
  assert.equal(report.tested, true);
  const [retry] = report.followups;
  assert.equal(retry.kind, 'close-free');
  assert.equal(retry.errno, 9, 'the retry got EBADF');
  assert.equal(retry.of, report.injections[0].id);
  assert.equal(retry.site.symbol, 'close_with_retry');
  assert.equal(retry.site.module, client);
  assert.equal(report.injections[0].site.symbol, 'close_with_retry');
  // The address is one addr2line resolves to the same function.
  const where = spawnSync('addr2line', ['-f', '-e', client, retry.site.address], { encoding: 'utf8' });
  if (where.status === 0) assert.equal(where.stdout.split('\n')[0], 'close_with_retry');
  assert.match(stderr, /retried close\(\) on a free number \(EBADF\)\s+1/);
  assert.match(stderr, /retried close\(\), free number\s+1\s+close_with_retry\+0x[0-9a-f]+/);
  assert.match(stderr, /RETRY BUG/);
});

test('--fail-on-retry exits 1 when a retry was seen, and passes the status through when none was', { skip: skipNative }, () => {
  const client = build('inject-client');
  assert.equal(inject(['--fail-on-retry', '--', client, 'retry']).code, 1);
  const handled = inject(['--fail-on-retry', '--', client, 'handled']);
  assert.equal(handled.code, 0, handled.stderr);
});

test('a retry that closes the number another thread just opened is reported as data loss', { skip: skipNative }, (t) => {
  const client = build('inject-client');
  const { code, stdout, report } = injectJson(t, [], [client, 'reuse']);
  assert.equal(code, 0);
  assert.match(stdout, /other thread's file: Bad file descriptor \(closed by the retry\)/);
  assert.equal(report.summary.retryReused, 1);
  assert.equal(report.summary.retryFree, 0);
  assert.equal(report.summary.numbersReused, 1);
  const [retry] = report.followups;
  assert.equal(retry.kind, 'close-reused');
  assert.equal(retry.rc, 0, 'the retry succeeded: it closed the other thread\'s file');
  assert.equal(retry.site.symbol, 'close_with_retry');
});

test('a program that ignores the failed close() is counted as handled silently', { skip: skipNative }, (t) => {
  const client = build('inject-client');
  const { code, report, stderr } = injectJson(t, [], [client, 'handled', '3']);
  assert.equal(code, 0);
  assert.equal(report.summary.injected, 3, 'each connection\'s close failed, though the number is reused by the next socket()');
  assert.equal(report.summary.handledSilently, 3);
  assert.equal(report.followups.length, 0);
  assert.match(stderr, /every failed close\(\) was handled/);
});

test('a write() to a descriptor whose close() failed is reported as use after failed close', { skip: skipNative }, (t) => {
  const client = build('inject-client');
  const { report } = injectJson(t, [], [client, 'use']);
  assert.equal(report.summary.useFree, 1);
  assert.equal(report.followups[0].call, 'write');
  assert.equal(report.followups[0].site.symbol, 'write_after_failed_close');
});

test('--every 2 fails every second eligible close only', { skip: skipNative }, (t) => {
  const client = build('inject-client');
  const { report } = injectJson(t, ['--every', '2'], [client, 'handled', '4']);
  assert.equal(report.counters.eligible, 4);
  assert.equal(report.summary.injected, 2);
});

test('--race fails a close only when the peer\'s reset lands during the emulated window', { skip: skipNative }, (t) => {
  const client = build('inject-client');
  // The client closes right after a write; the peer resets 100ms after reading it, inside the 1s window.
  const { report } = injectJson(t, ['--race', '1s'], [client, 'race']);
  assert.equal(report.summary.injected, 1);
  assert.equal(report.injections[0].raced, true);
  assert.equal(report.summary.retryFree, 1);
  // Without --race the same program is never eligible: its close() comes before the reset.
  const plain = injectJson(t, [], [client, 'race']).report;
  assert.equal(plain.summary.injected, 0);
  assert.equal(plain.counters.eligible, 0);
});

const pythonProgram = `
import socket, struct
srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen()
c = socket.create_connection(srv.getsockname())
peer, _ = srv.accept()
peer.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)); peer.close()
try:
    c.recv(1)
except ConnectionResetError:
    pass
c.close()
print("python: closed without an exception")
`;

test('CPython ignores ECONNRESET from close() (bpo-30319): injected and handled silently', { skip: skipNative || (!pythonExe && 'no python3') }, (t) => {
  const script = path.join(tempDir(t), 'client.py');
  writeFileSync(script, pythonProgram);
  const { code, stdout, report } = injectJson(t, [], [pythonExe, script]);
  assert.equal(code, 0);
  assert.match(stdout, /closed without an exception/);
  assert.equal(report.summary.injected, 1);
  assert.equal(report.summary.handledSilently, 1);
  assert.equal(report.injections[0].site.symbol, 'sock_close');
});

test('--errno EINVAL reaches CPython as an OSError, and its exit status is passed through', { skip: skipNative || (!pythonExe && 'no python3') }, (t) => {
  const script = path.join(tempDir(t), 'client.py');
  writeFileSync(script, pythonProgram);
  const { code, stderr, report } = injectJson(t, ['--errno', 'EINVAL'], [pythonExe, script]);
  assert.equal(code, 1, 'python exits 1 on an uncaught exception');
  assert.match(stderr, /OSError: \[Errno 22\] Invalid argument/);
  assert.deepEqual(report.errno, { name: 'EINVAL', value: 22 });
  assert.equal(report.injections[0].errno, 22);
});

test('a Node net client: libuv closes with syscall(SYS_close), which is injected and handled', { skip: skipNative }, (t) => {
  const { code, stdout, report } = injectJson(t, [], [process.execPath, path.join(root, 'test', 'helpers', 'inject-net-client.mjs')]);
  assert.equal(code, 0);
  assert.match(stdout, /client: ECONNRESET/);
  assert.equal(report.summary.injected, 1);
  assert.equal(report.injections[0].call, 'syscall(SYS_close)');
  assert.equal(report.summary.handledSilently, 1);
});

test('a child process inherits the injection; one started with a cleared environment is named', { skip: skipNative }, (t) => {
  const client = build('inject-client');
  const child = injectJson(t, [], ['sh', '-c', `'${client}' retry`]).report;
  assert.equal(child.summary.retryFree, 1);
  const cleared = injectJson(t, [], ['sh', '-c', `env -i '${client}' retry`]).report;
  assert.equal(cleared.summary.injected, 0);
  assert.ok(cleared.notes.some((n) => n.code === 'env-cleared'), JSON.stringify(cleared.notes));
});

const hasLibcA = ['/usr/lib/x86_64-linux-gnu/libc.a', '/usr/lib/aarch64-linux-gnu/libc.a', '/usr/lib/libc.a', '/usr/lib64/libc.a'].some((f) => existsSync(f));

test('a statically linked program is reported as unreachable, not as a clean run', { skip: skipNative || (!hasLibcA && 'no libc.a for gcc -static (apt-get install libc6-dev)') }, (t) => {
  const client = build('inject-client-static', ['-static']);
  const { code, stdout, stderr, report } = injectJson(t, [], [client, 'retry']);
  assert.equal(code, 0, 'CMD\'s status is passed through');
  assert.match(stdout, /retry: succeeded/, 'the real Linux close() ran');
  assert.equal(report.tested, false);
  assert.equal(report.summary.injected, 0);
  assert.ok(report.notes.some((n) => n.code === 'static'));
  assert.match(stderr, /statically linked/);
  assert.match(stderr, /NOT TESTED/);
  assert.equal(inject(['--fail-on-retry', '--', client, 'retry']).code, 1, 'CI is not told that nothing tested is a pass');
});

test('CMD\'s exit status is passed through, and a signal as 128+N', { skip: skipNative }, () => {
  assert.equal(inject(['--', 'sh', '-c', 'exit 7']).code, 7);
  const killed = inject(['--', 'sh', '-c', 'kill -TERM $$']);
  assert.equal(killed.code, 143);
  assert.match(killed.stderr, /killed by SIGTERM, status 143/);
});

test('bad inject flags: one line on stderr, exit 2, nothing run', () => {
  const cases = [
    [['--every', '0', '--', 'true'], /--every takes a positive integer/],
    [['--every', '2', '--race', '1ms', '--', 'true'], /--every and --race are two modes/],
    [['--probability', '2', '--', 'true'], /--probability takes a number above 0/],
    [['--seed', '3', '--', 'true'], /--seed needs --probability/],
    [['--race', '5', '--', 'true'], /--race takes a window with a unit/],
    [['--errno', 'EFOO', '--', 'true'], /--errno takes an errno name/],
    [['--every', '2', '--every', '3', '--', 'true'], /given twice/],
    [['--bogus', '--', 'true'], /unknown option '--bogus'/],
    [[], /inject needs a command to run/],
    [['--', 'no-such-command-here'], /command not found or not executable: no-such-command-here/],
  ];
  for (const [args, message] of cases) {
    const r = inject(args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.doesNotMatch(r.stderr, NO_STACK);
  }
});

test('a Go program is named as unreachable: its net package makes raw system calls', { skip: skipNative || (spawnSync('objcopy', ['--version']).status !== 0 && 'no objcopy') }, (t) => {
  // No Go toolchain is needed to test the detection: a dynamic ELF carrying Go's build-info section.
  const goLike = path.join(tempDir(t), 'go-like');
  const empty = path.join(path.dirname(goLike), 'empty');
  writeFileSync(empty, '');
  execFileSync('objcopy', ['--add-section', `.go.buildinfo=${empty}`, build('inject-client'), goLike]);
  const { report, stderr } = injectJson(t, [], [goLike, 'handled']);
  assert.ok(report.notes.some((n) => n.code === 'go'), JSON.stringify(report.notes));
  assert.equal(report.tested, false);
  assert.match(stderr, /Go program: Go's net package makes raw system calls/);
});

test('a program with no TCP through libc is NOT TESTED, not clean', { skip: skipNative }, (t) => {
  const { report, stderr } = injectJson(t, [], ['sh', '-c', 'true']);
  assert.equal(report.tested, false);
  assert.ok(report.notes.some((n) => n.code === 'no-tcp-close'));
  assert.match(stderr, /NOT TESTED/);
});

test('--probability fails a share of eligible closes, the same share again for the same --seed', { skip: skipNative }, (t) => {
  const client = build('inject-client');
  const run = (seed) => injectJson(t, ['--probability', '0.5', '--seed', String(seed)], [client, 'handled', '20']).report;
  const first = run(1);
  assert.equal(first.counters.eligible, 20);
  assert.ok(first.summary.injected > 0 && first.summary.injected < 20, `injected ${first.summary.injected} of 20`);
  assert.equal(run(1).summary.injected, first.summary.injected);
});

test('a set-user-ID program, which the loader runs without the preload, is reported as unreachable', { skip: skipNative || (process.getuid?.() !== 0 && 'needs root to chown a test binary') }, (t) => {
  const suid = path.join(tempDir(t), 'suid-client');
  execFileSync('cp', [build('inject-client'), suid]);
  execFileSync('chown', ['65534', suid]);
  execFileSync('chmod', ['4755', suid]);
  const { report } = injectJson(t, [], [suid, 'handled']);
  if (report.processes.loaded > 0) return t.skip('the temp dir ignores set-user-ID (nosuid mount)');
  assert.ok(report.notes.some((n) => n.code === 'setuid'), JSON.stringify(report.notes));
  assert.equal(report.tested, false);
});

test('a statically linked child started by CMD is named', { skip: skipNative || (!hasLibcA && 'no libc.a for gcc -static') }, (t) => {
  const client = build('inject-client-static', ['-static']);
  const { report } = injectJson(t, [], ['sh', '-c', `'${client}' retry; true`]);
  const note = report.notes.find((n) => n.code === 'static');
  assert.ok(note, JSON.stringify(report.notes));
  assert.match(note.message, /^child /);
});
