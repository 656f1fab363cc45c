// Runs one command of the CLI's table: parse, --help, run, and map failures to
// exit codes (0 success, 1 an engine or file error, 2 a usage mistake). The CLI
// (functions/cli.ts) and the stand-alone entries (serve, keys, tests) share it.
import { HyperspaceError } from '../../engine/index.ts';
import { commandHelp, parseArgs, UsageError } from './args.ts';
import type { Command, Io } from './commands.ts';

export async function runCommand(command: Command, argv: readonly string[], io: Io = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  try {
    const args = parseArgs(command.spec, argv);
    if (args.options.help) {
      io.stdout.write(commandHelp(command.spec));
      return 0;
    }
    await command.run(args, io);
    return 0;
  } catch (e) {
    if (e instanceof UsageError) {
      io.stderr.write(`hyperspace: ${e.message}\n\n${commandHelp(e.command ?? command.spec)}`);
      return 2;
    }
    if (e instanceof HyperspaceError) {
      io.stderr.write(`error (${e.kind}): ${e.message}\n`);
      return 1;
    }
    io.stderr.write(`error (internal): ${(e as Error)?.stack ?? String(e)}\n`);
    return 1;
  }
}
