#!/usr/bin/env node
// Thin entry: the CLI lives in dist/ (compiled from src/ at install time).
let cli;
try {
  cli = await import('../dist/cli.js');
} catch (err) {
  process.stderr.write(`close-stress: not built (${err.message.split('\n')[0]}); run npm install\n`);
  process.exit(1);
}
process.exitCode = await cli.main(process.argv);
