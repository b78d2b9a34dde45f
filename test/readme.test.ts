// The README's JavaScript examples run as written (imports pointed at the built package),
// so the documentation cannot drift from the API. The PyTorch-files example needs files of
// the user's; test/weights-io.test.ts runs the same calls on the fixtures. Its command
// lines name only flags and arguments the command's own --help lists.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '..');
const requireHere = createRequire(join(root, 'package.json'));
const entry = pathToFileURL(join(root, 'dist/src/index.js')).href;
const blocks = [...readFileSync(join(root, 'README.md'), 'utf8').matchAll(/```js\n([\s\S]*?)```/g)].map((m) => m[1]);
const runnable = blocks.filter((b) => !b.includes("readFileSync('net."));

describe('README examples', () => {
  it('has the API and training examples', () => {
    expect(runnable.length).toBeGreaterThanOrEqual(2);
  });

  it.each(runnable.map((b, i) => [i, b]))('example %i runs', (_i, code) => {
    const dir = mkdtempSync(join(tmpdir(), 'bptt-readme-'));
    const file = join(dir, 'example.mjs');
    writeFileSync(file, (code as string).replaceAll("from 'bptt-wasm'", `from '${entry}'`)
      // dataset packages and onnxruntime-node (devDependencies) resolve from the checkout, not the temp dir
      .replace(/from '(@stdlib\/[^']+|onnxruntime-node)'/g, (_m, pkg: string) => `from '${pathToFileURL(requireHere.resolve(pkg)).href}'`));
    execFileSync(process.execPath, [file], { cwd: dir, stdio: 'pipe', timeout: 60_000 });
  }, 90_000);
});

/** The README's command lines: `node dist/src/cli/index.js CMD ...`, `npx bptt-wasm CMD ...` and `bptt-wasm CMD ...` in code. */
function readmeCommands(commands: string[]): { cmd: string; args: string[]; line: string }[] {
  const md = readFileSync(join(root, 'README.md'), 'utf8');
  const found: { cmd: string; args: string[]; line: string }[] = [];
  for (const m of md.matchAll(/(?:node dist\/src\/cli\/index\.js|npx bptt-wasm|`bptt-wasm) ([a-z]+)([^\n`#|]*)/g)) {
    if (!commands.includes(m[1])) continue;
    // "quoted text" is one argument; [--flag] is an optional flag; ... stands for more
    const args = (m[2].match(/"[^"]*"|\S+/g) ?? []).map((a) => a.replace(/^\[|\]$/g, '')).filter((a) => a !== '...');
    const sub = m[1] === 'experiment' && args.length > 0 && !args[0].startsWith('-') ? args.shift()! : null;
    found.push({ cmd: sub ? `${m[1]} ${sub}` : m[1], args, line: m[0] });
  }
  return found;
}

describe('README command lines', () => {
  const cli = (args: string[]): string => execFileSync(process.execPath, [join(root, 'dist/src/cli/index.js'), ...args], { encoding: 'utf8' });
  const commands = [...cli(['--help']).split('Commands:')[1].matchAll(/^ {2}([a-z]+)/gm)].map((m) => m[1]).filter((c) => c !== 'help');

  it('use only the flags and positional arguments each command accepts', () => {
    const lines = readmeCommands(commands);
    expect(lines.length).toBeGreaterThanOrEqual(12);
    const helps = new Map<string, string>();
    const problems: string[] = [];
    for (const { cmd, args, line } of lines) {
      if (!helps.has(cmd)) helps.set(cmd, cli([...cmd.split(' '), '--help']));
      const help = helps.get(cmd)!;
      // Usage: bptt-wasm train [options] <file>: the positionals are what follows [options]
      const usage = help.match(/^Usage: bptt-wasm \S+(?: [a-z]+)? \[options\](.*)$/m)?.[1] ?? '';
      const positionals = (usage.match(/<[^>]+>|\[[^\]]+\]/g) ?? []).length;
      let given = 0;
      for (let i = 0; i < args.length; i++) {
        const a = args[i];
        if (!a.startsWith('-')) { given++; continue; }
        const flag = help.match(new RegExp(`(?:^|[ ,])${a.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}( <[^>]+>)?(?: |$)`, 'm'));
        if (!flag) problems.push(`${line}: ${cmd} has no flag ${a}`);
        else if (flag[1]) i++; // the flag's value
      }
      if (given > positionals) problems.push(`${line}: ${cmd} takes ${positionals} positional argument(s), the README gives ${given}`);
    }
    expect(problems).toEqual([]);
  });
});
