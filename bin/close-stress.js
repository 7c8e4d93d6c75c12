#!/usr/bin/env node
// Thin entry: the CLI lives in dist/ (compiled from src/ at install time).
let cli;
try {
  cli = await import('../dist/cli.js');
} catch (err) {
  // Node loads modules in parallel: a tight `ulimit -n` fails here, before any of our code runs.
  const reason = err.code === 'EMFILE' || err.code === 'ENFILE'
    ? 'too many open files while loading: the descriptor limit is too low; raise it with ulimit -n 1024'
    : `not built (${err.message.split('\n')[0]}); run npm install`;
  // Under git bisect run (src/report/bisect.ts: bisectRequested) a tool that cannot
  // start must abort the bisection (exit > 127), not blame or skip the commit.
  const bisect = process.argv.slice(2).some((a) => /^--fail-(on|above)(=|$)/.test(a));
  process.stderr.write(`close-stress: error: ${reason}${bisect ? ' (bisect aborted: this says nothing about the commit, exit 128)' : ''}\n`);
  process.exit(bisect ? 128 : 1);
}
// A reader that stopped reading (`close-stress --help | head`) is no error of
// ours: the output it did not want is dropped, and the run still saves what it
// measured (--json, journal, --html) and exits as it would have.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err) => {
    if (err.code !== 'EPIPE') throw err;
  });
}
process.exitCode = await cli.main(process.argv);
