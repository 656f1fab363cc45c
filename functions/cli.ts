// `hyperspace`: the command-line entry point of the embedded database
// (bin/hyperspace.mjs runs this file through tsx). Exit codes: 0 success,
// 1 an engine or file error (`error (kind): message`), 2 a usage mistake.
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { commandHelp, UsageError } from './cli/args.ts';
import { compact, create, flush, importCommand, search, stats, type Command, type Io } from './cli/commands.ts';
import { demo } from './cli/demo.ts';
import { runCommand } from './cli/run.ts';
import { keysCommand } from './auth/keys-cli.ts';
import { syncCommand } from './follow.ts';
import { serveCommand } from './serve.ts';

const commands: Command[] = [create, importCommand, search, stats, flush, compact, demo, serveCommand, syncCommand, keysCommand];

function mainHelp(): string {
  const width = Math.max(...commands.map((c) => c.spec.name.length));
  return [
    'Usage: hyperspace COMMAND [arguments] [--data DIR] [--help]',
    '',
    'HyperspaceDB on one machine: collections live in the data directory (default ./data).',
    '',
    'Commands:',
    ...commands.map((c) => `  ${c.spec.name.padEnd(width)}  ${c.spec.summary.split('. ')[0].replace(/\.$/, '')}`),
    '',
    'Run "hyperspace COMMAND --help" for the options of a command and an example.',
    '',
  ].join('\n');
}

/** Runs one command line; returns the exit code (never calls process.exit, so output is flushed). */
export async function main(argv: readonly string[], io: Io = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  // `--data DIR` may also come before the command: `hyperspace --data /srv/db stats`.
  const leading: string[] = [];
  let at = 0;
  while (argv[at] === '--data' || argv[at]?.startsWith('--data=')) {
    const width = argv[at] === '--data' ? 2 : 1;
    leading.push(...argv.slice(at, at + width));
    at += width;
  }
  const [name, ...afterName] = argv.slice(at);
  const rest = [...afterName, ...leading];
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    const topic = name === 'help' ? commands.find((c) => c.spec.name === rest[0]) : undefined;
    (name === undefined ? io.stderr : io.stdout).write(topic ? commandHelp(topic.spec) : mainHelp());
    return name === undefined ? 2 : 0;
  }
  const command = commands.find((c) => c.spec.name === name);
  if (!command) return usageError(io, new UsageError(`unknown command ${JSON.stringify(name)}`));
  return runCommand(command, rest, io);
}

function usageError(io: Io, e: UsageError): number {
  io.stderr.write(`hyperspace: ${e.message}\n\n${e.command ? commandHelp(e.command) : mainHelp()}`);
  return 2;
}

// Run when executed directly (`node --import tsx functions/cli.ts`); bin/hyperspace.mjs imports and calls main().
if (process.argv[1] && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = await main(process.argv.slice(2));
}
