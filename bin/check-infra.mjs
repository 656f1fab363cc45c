#!/usr/bin/env node
// npm run check:infra — type-checks sst.config.ts and infra/ without an AWS
// account: `sst install` fetches SST's platform types and the AWS provider
// (from the npm registry, with the bun that npm installed, so nothing is
// downloaded from anywhere else), then tsc checks the stack against
// .sst/platform/config.d.ts. Exit code 0 when both pass.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const fail = (message) => {
  process.stderr.write(`check:infra: ${message}\n`);
  process.exit(1);
};

// bun's postinstall moves its platform binary to bun/bin/bun.exe; without install scripts it stays in @oven/.
const platform = `${process.platform === 'win32' ? 'windows' : process.platform}-${process.arch === 'arm64' ? 'aarch64' : process.arch}`;
const bun = [join(root, 'node_modules/bun/bin/bun.exe'), join(root, `node_modules/@oven/bun-${platform}/bin/bun`)].find((p) => existsSync(p));
if (!bun) fail('no bun binary under node_modules (devDependency "bun"): run npm install');

const env = { ...process.env, SST_SKIP_DEPENDENCY_CHECK: '1', SST_TELEMETRY_DISABLED: '1', SST_BUN_PATH: bun };
const run = (command, args) => spawnSync(command, args, { cwd: root, env, encoding: 'utf8' });

const install = run(join(root, 'node_modules/.bin/sst'), ['install', '--stage', 'dev', '--print-logs']);
if (install.status !== 0) {
  const output = `${install.stdout ?? ''}${install.stderr ?? ''}`;
  const network = /ENOTFOUND|ECONNREFUSED|ETIMEDOUT|EAI_AGAIN|getaddrinfo|network|registry\.npmjs\.org|dial tcp/i.test(output);
  fail(`sst install failed${network ? ' — it needs the npm registry (registry.npmjs.org) to fetch the AWS provider and SST platform packages' : ''}:\n${output.split('\n').slice(-25).join('\n')}`);
}
if (!existsSync(join(root, '.sst/platform/config.d.ts'))) fail('sst install finished without .sst/platform/config.d.ts');

const tsc = run(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', 'infra/tsconfig.json']);
if (tsc.status !== 0) fail(`type errors in sst.config.ts or infra/:\n${tsc.stdout}${tsc.stderr}`);
process.stdout.write('check:infra: sst.config.ts and infra/ type-check against the SST platform\n');
