// src/ reads as a pipeline of stage folders with every import pointing back
// down it (README: Layout). The rule is scripts/dependency-cruiser.cjs; this runs it
// on the tree, and on a small tree made to break it, so a rule that has
// stopped catching anything fails here too.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync, copyFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { cruise } from 'dependency-cruiser';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const config = createRequire(import.meta.url)(path.join(root, 'scripts', 'dependency-cruiser.cjs'));

async function violations(dir) {
  const { output } = await cruise(['src'], { ...config.options, validate: true, ruleSet: { forbidden: config.forbidden }, baseDir: dir });
  const modules = output.modules.filter((m) => m.source.startsWith('src/')).length;
  // A run that found no module, or did not apply the rules, would pass anything.
  assert.ok(modules > 0 && output.summary.ruleSetUsed?.forbidden?.length === config.forbidden.length, 'dependency-cruiser read the tree with the rules');
  return output.summary.violations.map((v) => ({
    rule: v.rule.name,
    text: `${v.from} -> ${v.to}${v.cycle ? ` (circle: ${v.cycle.map((c) => c.name ?? c).join(' -> ')})` : ''}: ${v.rule.name}`,
  }));
}

test('src/ has no import circle and no stage imports from a later stage or a driver', async () => {
  const found = await violations(root);
  assert.deepEqual(found.map((v) => v.text), []);
});

test('every folder under src/ is a stage the rule orders', () => {
  const folders = readdirSync(path.join(root, 'src'), { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name);
  const unordered = folders.filter((f) => !config.STAGES.includes(f) && !config.NOT_STAGES.includes(f));
  assert.deepEqual(unordered, [], 'add the folder to STAGES in scripts/dependency-cruiser.cjs, in pipeline order');
});

test('the rule catches a circle, a stage importing a later stage, and a stage importing a driver', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'close-stress-layers-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  copyFileSync(path.join(root, 'tsconfig.json'), path.join(dir, 'tsconfig.json'));
  const write = (file, text) => {
    mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
    writeFileSync(path.join(dir, file), text);
  };
  // tally reaching up to result (a later stage), which imports tally: a circle too.
  write('src/tally/tally.ts', "import type { RunResult } from '../result/result.js';\nexport type Tally = { of?: RunResult };\n");
  write('src/result/result.ts', "import type { Tally } from '../tally/tally.js';\nexport type RunResult = { tally?: Tally };\n");
  // measure reaching into the driver that calls it.
  write('src/measure/step.ts', "import { run } from '../run.js';\nexport const again = run;\n");
  write('src/run.ts', 'export const run = 1;\n');
  const rules = new Set((await violations(dir)).map((v) => v.rule));
  assert.deepEqual([...rules].sort(), ['no-circular', 'no-stage-imports-a-driver', 'tally-imports-no-later-stage']);
});
