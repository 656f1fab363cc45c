// Command-line parsing for `hyperspace`: a small, strict parser (so every
// unknown option or missing value gets our own message and exit code 2) and the
// help text generated from the same option table.

export interface OptionSpec {
  type: 'string' | 'boolean';
  description: string;
  /** Placeholder shown in help, e.g. `N` for `--k N`. */
  value?: string;
  /** Shown in help; parsing leaves absent options undefined. */
  default?: string;
}

export interface CommandSpec {
  name: string;
  summary: string;
  /** Positional arguments in order, e.g. ['NAME', 'FILE']; a trailing `?` marks an optional one. */
  positionals: string[];
  options: Record<string, OptionSpec>;
  /** Extra lines after the option list (formats, notes). */
  notes?: string[];
  examples: string[];
}

export interface ParsedArgs {
  positionals: string[];
  options: Record<string, string | boolean | undefined>;
}

/** A mistake in how the command was called: message + usage, exit code 2. */
export class UsageError extends Error {
  constructor(message: string, readonly command?: CommandSpec) {
    super(message);
    this.name = 'UsageError';
  }
}

/** Options every command accepts. */
export const globalOptions: Record<string, OptionSpec> = {
  data: { type: 'string', value: 'DIR', default: './data', description: 'data directory of the embedded database' },
  help: { type: 'boolean', description: 'show this help' },
};

export function parseArgs(command: CommandSpec, argv: readonly string[]): ParsedArgs {
  const specs = { ...command.options, ...globalOptions };
  const options: Record<string, string | boolean | undefined> = {};
  const positionals: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i];
    if (token === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (token === '-h') {
      options.help = true;
      continue;
    }
    if (!token.startsWith('--') || token.length === 2) {
      if (token.startsWith('-') && token.length > 1 && !/^-\d/.test(token)) {
        throw new UsageError(`unknown option ${token} for "hyperspace ${command.name}"`, command);
      }
      positionals.push(token);
      continue;
    }
    const eq = token.indexOf('=');
    const name = token.slice(2, eq < 0 ? undefined : eq);
    const spec = specs[name];
    if (!spec) throw new UsageError(`unknown option --${name} for "hyperspace ${command.name}"`, command);
    if (spec.type === 'boolean') {
      if (eq >= 0) throw new UsageError(`option --${name} takes no value`, command);
      options[name] = true;
      continue;
    }
    let value: string;
    if (eq >= 0) value = token.slice(eq + 1);
    else if (i + 1 < argv.length) value = argv[++i];
    else throw new UsageError(`option --${name} needs a value (${spec.value ?? 'VALUE'})`, command);
    if (options[name] !== undefined) throw new UsageError(`option --${name} given more than once`, command);
    options[name] = value;
  }
  if (options.help) return { positionals, options };
  const required = command.positionals.filter((p) => !p.endsWith('?'));
  if (positionals.length < required.length) {
    throw new UsageError(`missing ${required.slice(positionals.length).join(' ')} for "hyperspace ${command.name}"`, command);
  }
  if (positionals.length > command.positionals.length) {
    throw new UsageError(`unexpected argument ${JSON.stringify(positionals[command.positionals.length])} for "hyperspace ${command.name}"`, command);
  }
  return { positionals, options };
}

export function stringOption(args: ParsedArgs, name: string): string | undefined {
  const value = args.options[name];
  return typeof value === 'string' ? value : undefined;
}

/** An integer option within [min, max], or `fallback` when absent. */
export function intOption(args: ParsedArgs, name: string, min: number, max: number, fallback: number): number;
export function intOption(args: ParsedArgs, name: string, min: number, max: number): number | undefined;
export function intOption(args: ParsedArgs, name: string, min: number, max: number, fallback?: number): number | undefined {
  const text = stringOption(args, name);
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!/^-?\d+$/.test(text.trim()) || !Number.isSafeInteger(value)) {
    throw new UsageError(`--${name} must be an integer, got ${JSON.stringify(text)}`);
  }
  if (value < min || value > max) throw new UsageError(`--${name} must be in ${min}..${max}, got ${value}`);
  return value;
}

/** A string option restricted to `choices`, or `fallback` when absent. */
export function choiceOption<T extends string>(args: ParsedArgs, name: string, choices: readonly T[], fallback?: T): T | undefined {
  const text = stringOption(args, name);
  if (text === undefined) return fallback;
  if (!(choices as readonly string[]).includes(text)) {
    throw new UsageError(`--${name} must be one of ${choices.join('|')}, got ${JSON.stringify(text)}`);
  }
  return text as T;
}

/** A JSON option (vector, filter), parsed; a syntax error is a usage error. */
export function jsonOption(args: ParsedArgs, name: string): unknown {
  const text = stringOption(args, name);
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new UsageError(`--${name} is not valid JSON: ${(e as Error).message}`);
  }
}

export function commandHelp(command: CommandSpec): string {
  const lines = [`Usage: hyperspace ${command.name}${command.positionals.map((p) => ` ${p.endsWith('?') ? `[${p.slice(0, -1)}]` : p}`).join('')} [options]`, '', command.summary, ''];
  lines.push('Options:');
  const entries = Object.entries({ ...command.options, ...globalOptions });
  const labels = entries.map(([name, spec]) => `--${name}${spec.type === 'string' ? ` ${spec.value ?? 'VALUE'}` : ''}`);
  const width = Math.max(...labels.map((l) => l.length));
  entries.forEach(([, spec], i) => {
    lines.push(`  ${labels[i].padEnd(width)}  ${spec.description}${spec.default !== undefined ? ` (default: ${spec.default})` : ''}`);
  });
  if (command.notes?.length) lines.push('', ...command.notes);
  lines.push('', command.examples.length > 1 ? 'Examples:' : 'Example:', ...command.examples.map((e) => `  ${e}`));
  return lines.join('\n') + '\n';
}
