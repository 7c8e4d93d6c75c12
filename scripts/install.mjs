#!/usr/bin/env node
// The "install" script. A tarball made by npm pack carries prebuilt binaries
// (native/prebuilds): when one loads here there is nothing to build. A clone
// has none and builds native/ from source with node-gyp, as it always did.
// An install with --ignore-scripts never runs this; the CLI then loads the
// prebuild directly (src/core/native.ts), the same way.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const native = path.join(root, 'native');
const require = createRequire(import.meta.url);

function prebuildLoads() {
  if (!existsSync(path.join(native, 'prebuilds'))) return false;
  try {
    const addon = require('node-gyp-build').path(native);
    require(addon).layout();
    if (!existsSync(path.join(native, 'prebuilds', `${process.platform}-${process.arch}`, 'close-stress-core'))) return false;
    process.stderr.write(`close-stress: using the prebuilt ${path.relative(root, addon)}\n`);
    return true;
  } catch (err) {
    process.stderr.write(`close-stress: no prebuilt binary loads here (${err.message.split('\n')[0]}); building from source\n`);
    return false;
  }
}

if (!prebuildLoads()) {
  const r = spawnSync('node-gyp', ['rebuild', '--directory', native], { stdio: 'inherit' });
  if (r.error) {
    process.stderr.write(`close-stress: cannot run node-gyp (${r.error.message}): needs npm's node-gyp, a C compiler, make and python3\n`);
    process.exit(1);
  }
  process.exit(r.status ?? 1);
}
