// The distance kernels and CRC-32C of the native core, checked by a standalone
// C++ program (native/test/kernels_test.cc) against the scalar reference: on
// this machine, and as an aarch64 build under qemu so NEON is tested too.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const script = fileURLToPath(new URL('../../native/test/run-kernel-tests.sh', import.meta.url));
const buildAndRunMs = 240_000;
const missingCrossToolsExitCode = 3;

interface ScriptRun {
  exitCode: number;
  output: string;
}

function runKernelTests(target: 'host' | 'aarch64'): Promise<ScriptRun> {
  return new Promise((resolve) => {
    execFile('bash', [script, target], { maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      const exitCode = error === null ? 0 : typeof error.code === 'number' ? error.code : 1;
      resolve({ exitCode, output: stdout + stderr });
    });
  });
}

// Every run prints one summary for the full test and one for the dispatch
// check with HS_KERNELS=scalar; all must report zero failures.
function expectAllPassed(run: ScriptRun): void {
  expect(run.exitCode, run.output).toBe(0);
  const summaries = run.output.match(/^kernels: \d+ passed, \d+ failed$/gm) ?? [];
  expect(summaries.length, run.output).toBe(2);
  for (const summary of summaries) expect(summary, run.output).toMatch(/ 0 failed$/);
  expect(run.output).not.toMatch(/^FAIL /m);
}

function hostHasAvx2AndFma(): boolean {
  try {
    const flags = readFileSync('/proc/cpuinfo', 'utf8').match(/^flags\s*:(.*)$/m)?.[1].split(/\s+/) ?? [];
    return flags.includes('avx2') && flags.includes('fma');
  } catch {
    return false;
  }
}

describe('native distance kernels', () => {
  it(
    'x86_64 kernels match the scalar reference',
    async () => {
      const run = await runKernelTests('host');
      expectAllPassed(run);
      if (process.arch === 'x64' && hostHasAvx2AndFma()) {
        expect(run.output).toContain('kernel tables in this build on this CPU: scalar avx2');
        expect(run.output).toContain('kernels() chose avx2 (HS_KERNELS=unset');
        expect(run.output).toContain('kernels() chose scalar (HS_KERNELS=scalar');
      }
    },
    buildAndRunMs,
  );

  it(
    'aarch64 NEON kernels match the scalar reference under qemu',
    async () => {
      const run = await runKernelTests('aarch64');
      if (run.exitCode === missingCrossToolsExitCode) {
        // Missing tools fail the suite on purpose: NEON must not go untested.
        throw new Error(run.output.trim());
      }
      expectAllPassed(run);
      expect(run.output).toContain('kernel tables in this build on this CPU: scalar neon');
      expect(run.output).toContain('kernels() chose neon (HS_KERNELS=unset');
    },
    buildAndRunMs,
  );
});
