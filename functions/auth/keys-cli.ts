// `hyperspace keys create|list|revoke`: API keys of a data directory. The
// secret is printed once by `create` and never stored (keys.json holds its
// SHA-256); a running `hyperspace serve` picks changes up within a second.
import { choiceOption, intOption, stringOption, UsageError, type CommandSpec, type ParsedArgs } from '../cli/args.ts';
import type { Command, Io } from '../cli/commands.ts';
import { runCommand } from '../cli/run.ts';
import { createKey, rateLimitDefault, readKeys, revokeKey, type KeyRecord } from './keys-file.ts';

export const keysSpec: CommandSpec = {
  name: 'keys',
  summary: 'Manage API keys: create (prints the secret once), list, revoke ID.',
  positionals: ['create|list|revoke', 'ID?'],
  options: {
    name: { type: 'string', value: 'TEXT', description: 'create: a label for the key' },
    collections: { type: 'string', value: 'NAMES', default: '*', description: 'create: comma-separated collections the key may use, or *' },
    access: { type: 'string', value: 'read|read-write', default: 'read-write', description: 'create: what the key may do' },
    rate: { type: 'string', value: 'N', default: String(rateLimitDefault.perSecond), description: 'create: requests per second (0: unlimited)' },
    burst: { type: 'string', value: 'N', default: String(rateLimitDefault.burst), description: 'create: requests allowed at once' },
    json: { type: 'boolean', description: 'print JSON' },
  },
  notes: ['Send a key as "Authorization: Bearer <key>" or "x-api-key: <key>" (HTTP header or gRPC metadata).'],
  examples: [
    'hyperspace keys create --name ci --collections docs,images --access read',
    'hyperspace keys list',
    'hyperspace keys revoke 3f2a9c01b7e4',
  ],
};

function describeKey(k: KeyRecord): string {
  const scope = k.collections === '*' ? '*' : k.collections.join(',');
  const rate = k.rate.perSecond > 0 ? `${k.rate.perSecond}/s burst ${k.rate.burst}` : 'unlimited';
  return `${k.id}  ${k.revokedAt ? 'revoked' : 'active '}  ${k.access.padEnd(10)}  collections=${scope}  rate=${rate}  name=${JSON.stringify(k.name)}  created=${k.createdAt}`;
}

async function run(args: ParsedArgs, io: Io): Promise<void> {
  const data = stringOption(args, 'data') ?? './data';
  const [action, id] = args.positionals;
  const json = args.options.json === true;
  if (action !== 'revoke' && id !== undefined) throw new UsageError(`unexpected argument ${JSON.stringify(id)} for "hyperspace keys ${action}"`, keysSpec);
  switch (action) {
    case 'create': {
      const scope = stringOption(args, 'collections') ?? '*';
      const collections = scope === '*' ? '*' : scope.split(',').map((c) => c.trim()).filter(Boolean);
      if (collections !== '*' && collections.length === 0) throw new UsageError('--collections must name at least one collection, or be *', keysSpec);
      const perSecond = intOption(args, 'rate', 0, 1_000_000, rateLimitDefault.perSecond);
      const burst = intOption(args, 'burst', 1, 10_000_000, Math.max(rateLimitDefault.burst, perSecond));
      const { secret, record } = await createKey(data, {
        name: stringOption(args, 'name') ?? '', collections, access: choiceOption(args, 'access', ['read', 'read-write'] as const, 'read-write')!,
        rate: { perSecond, burst },
      });
      if (json) io.stdout.write(`${JSON.stringify({ key: secret, ...publicFields(record) })}\n`);
      else io.stdout.write(`${secret}\n${describeKey(record)}\nStore the key now: it is not shown again.\n`);
      return;
    }
    case 'list': {
      const keys = await readKeys(data);
      if (json) io.stdout.write(`${JSON.stringify(keys.map(publicFields))}\n`);
      else io.stdout.write(keys.length ? keys.map(describeKey).join('\n') + '\n' : `no API keys in ${data}\n`);
      return;
    }
    case 'revoke': {
      if (id === undefined) throw new UsageError('missing ID for "hyperspace keys revoke"', keysSpec);
      const record = await revokeKey(data, id);
      io.stdout.write(json ? `${JSON.stringify(publicFields(record))}\n` : `${describeKey(record)}\n`);
      return;
    }
    default:
      throw new UsageError(`unknown keys action ${JSON.stringify(action)} (create, list or revoke)`, keysSpec);
  }
}

/** A key without its hash, for printing. */
function publicFields(k: KeyRecord): Omit<KeyRecord, 'hash'> {
  const { hash: _hash, ...rest } = k;
  return rest;
}

/** For the CLI's command table (functions/cli.ts). */
export const keysCommand: Command = { spec: keysSpec, run };

/** `hyperspace keys ...` on its own: returns the exit code (0, 1 error, 2 usage). */
export function runKeysCommand(argv: readonly string[], io?: Io): Promise<number> {
  return runCommand(keysCommand, argv, io);
}
