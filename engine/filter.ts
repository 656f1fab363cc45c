// Metadata filters: the Pinecone/Mongo JSON form parsed into a typed tree,
// and its evaluation against one record. Semantics: docs/filters.md. The
// per-segment index (metadata-index.ts) evaluates the same tree over bitsets
// and must agree with `matches` on every record.
import { HyperspaceError } from '../native/errors.ts';
import { limits } from './limits.ts';

export type FilterScalar = string | number | boolean;

export type FilterExpr =
  | { readonly kind: 'all' }
  | { readonly kind: 'eq' | 'ne'; readonly field: string; readonly value: FilterScalar }
  | { readonly kind: 'in' | 'nin'; readonly field: string; readonly values: readonly FilterScalar[] }
  | RangeExpr
  | { readonly kind: 'and' | 'or'; readonly children: readonly FilterExpr[] }
  | { readonly kind: 'not'; readonly child: FilterExpr };

/** Numbers only; an absent bound is open. */
export interface RangeExpr {
  readonly kind: 'range';
  readonly field: string;
  readonly min?: number;
  readonly minInclusive: boolean;
  readonly max?: number;
  readonly maxInclusive: boolean;
}

const matchAll: FilterExpr = { kind: 'all' };

/** Parses a JSON filter; undefined, null and {} match every record. */
export function parseFilter(filter: unknown): FilterExpr {
  if (filter === undefined || filter === null) return matchAll;
  if (!isObject(filter)) throw invalid('filter must be a JSON object');
  const budget = { nodes: 0 };
  return parseObject(filter, '', 1, budget);
}

type Budget = { nodes: number };

const rangeOperators = new Set(['$gt', '$gte', '$lt', '$lte']);

function parseObject(filter: Record<string, unknown>, path: string, depth: number, budget: Budget): FilterExpr {
  if (depth > limits.filterDepthMax) throw invalid(`filter: nested deeper than ${limits.filterDepthMax} levels at path ${shown(path)}`);
  const children: FilterExpr[] = [];
  for (const key of Object.keys(filter)) {
    const value = filter[key];
    if (key === '$and' || key === '$or') {
      const childPath = join(path, key);
      if (!Array.isArray(value) || value.length === 0) throw invalid(`filter: ${key} at path ${shown(path)} takes a non-empty array of filters`);
      const parts = value.map((item: unknown, index) => {
        if (!isObject(item)) throw invalid(`filter: ${key} at path ${shown(path)} takes a non-empty array of filters`);
        return parseObject(item, `${childPath}[${index}]`, depth + 1, budget);
      });
      children.push(node(budget, { kind: key === '$and' ? 'and' : 'or', children: parts }));
    } else if (key === '$not') {
      if (!isObject(value)) throw invalid(`filter: $not at path ${shown(path)} takes a filter object`);
      children.push(node(budget, { kind: 'not', child: parseObject(value, join(path, key), depth + 1, budget) }));
    } else if (key.startsWith('$')) {
      throw invalid(`filter: unknown operator ${key} at path ${shown(path)}; field names cannot start with $`);
    } else {
      children.push(parseField(key, value, join(path, key), depth, budget));
    }
  }
  return combine('and', children, budget);
}

function parseField(field: string, value: unknown, path: string, depth: number, budget: Budget): FilterExpr {
  if (isScalar(value)) return node(budget, { kind: 'eq', field, value });
  if (!isObject(value)) {
    const got = Array.isArray(value) ? 'an array (use $in)' : describe(value);
    throw invalid(`filter: value at path ${path} must be a string, finite number, boolean or an operator object, got ${got}`);
  }
  const operators = Object.keys(value);
  if (operators.length === 0) throw invalid(`filter: empty operator object at path ${path}`);
  const children: FilterExpr[] = [];
  let range: { min?: number; minInclusive: boolean; max?: number; maxInclusive: boolean } | undefined;
  for (const operator of operators) {
    const operand = value[operator];
    if (!operator.startsWith('$')) {
      throw invalid(`filter: expected $-operators at path ${path}, got key ${JSON.stringify(operator)} (nested fields are not supported)`);
    }
    if (operator === '$eq' || operator === '$ne') {
      if (!isScalar(operand)) throw invalid(`filter: ${operator} at path ${path} takes a string, finite number or boolean, got ${describe(operand)}`);
      children.push(node(budget, { kind: operator === '$eq' ? 'eq' : 'ne', field, value: operand }));
    } else if (operator === '$in' || operator === '$nin') {
      children.push(node(budget, { kind: operator === '$in' ? 'in' : 'nin', field, values: parseList(operator, operand, path) }));
    } else if (rangeOperators.has(operator)) {
      if (typeof operand !== 'number' || !Number.isFinite(operand)) {
        throw invalid(`filter: ${operator} at path ${path} takes a finite number, got ${describe(operand)}`);
      }
      range ??= { minInclusive: false, maxInclusive: false };
      tighten(range, operator, operand);
    } else if (operator === '$not') {
      if (depth + 1 > limits.filterDepthMax) throw invalid(`filter: nested deeper than ${limits.filterDepthMax} levels at path ${path}`);
      if (!isObject(operand) || Object.keys(operand).length === 0 || !Object.keys(operand).every((key) => key.startsWith('$'))) {
        throw invalid(`filter: $not at path ${path} takes a non-empty object of $-operators`);
      }
      children.push(node(budget, { kind: 'not', child: parseField(field, operand, `${path}.$not`, depth + 1, budget) }));
    } else {
      throw invalid(`filter: unknown operator ${operator} at path ${path}`);
    }
  }
  if (range !== undefined) children.push(node(budget, { kind: 'range', field, ...range }));
  return combine('and', children, budget);
}

function parseList(operator: string, operand: unknown, path: string): FilterScalar[] {
  if (!Array.isArray(operand)) throw invalid(`filter: ${operator} at path ${path} takes an array of strings, finite numbers or booleans, got ${describe(operand)}`);
  if (operand.length > limits.filterInValuesMax) {
    throw invalid(`filter: ${operator} at path ${path} has ${operand.length} values > ${limits.filterInValuesMax}`);
  }
  operand.forEach((item: unknown, index) => {
    if (!isScalar(item)) {
      throw invalid(`filter: ${operator} at path ${path} takes an array of strings, finite numbers or booleans, got ${describe(item)} at index ${index}`);
    }
  });
  return [...operand] as FilterScalar[];
}

function tighten(range: { min?: number; minInclusive: boolean; max?: number; maxInclusive: boolean }, operator: string, bound: number): void {
  const inclusive = operator === '$gte' || operator === '$lte';
  if (operator === '$gt' || operator === '$gte') {
    if (range.min === undefined || bound > range.min || (bound === range.min && !inclusive)) {
      range.min = bound;
      range.minInclusive = inclusive;
    }
  } else if (range.max === undefined || bound < range.max || (bound === range.max && !inclusive)) {
    range.max = bound;
    range.maxInclusive = inclusive;
  }
}

function combine(kind: 'and', children: FilterExpr[], budget: Budget): FilterExpr {
  if (children.length === 0) return matchAll;
  if (children.length === 1) return children[0]!;
  return node(budget, { kind, children });
}

function node(budget: Budget, expr: FilterExpr): FilterExpr {
  budget.nodes++;
  if (budget.nodes > limits.filterNodesMax) throw invalid(`filter: more than ${limits.filterNodesMax} nodes`);
  return expr;
}

/** Evaluates `expr` against one record's metadata (absent metadata is {}). */
export function matches(expr: FilterExpr, metadata: Readonly<Record<string, unknown>> | undefined): boolean {
  switch (expr.kind) {
    case 'all':
      return true;
    case 'eq':
      return fieldEquals(fieldOf(metadata, expr.field), expr.value);
    case 'ne':
      return !fieldEquals(fieldOf(metadata, expr.field), expr.value);
    case 'in':
      return fieldIn(fieldOf(metadata, expr.field), expr.values);
    case 'nin':
      return !fieldIn(fieldOf(metadata, expr.field), expr.values);
    case 'range': {
      const value = fieldOf(metadata, expr.field);
      return typeof value === 'number' && inRange(expr, value);
    }
    case 'and':
      return expr.children.every((child) => matches(child, metadata));
    case 'or':
      return expr.children.some((child) => matches(child, metadata));
    case 'not':
      return !matches(expr.child, metadata);
  }
}

export function inRange(range: RangeExpr, value: number): boolean {
  if (range.min !== undefined && (range.minInclusive ? value < range.min : value <= range.min)) return false;
  if (range.max !== undefined && (range.maxInclusive ? value > range.max : value >= range.max)) return false;
  return true;
}

function fieldOf(metadata: Readonly<Record<string, unknown>> | undefined, field: string): unknown {
  return metadata !== undefined && Object.hasOwn(metadata, field) ? metadata[field] : undefined;
}

// A string[] field equals x when it contains x; otherwise equality is strict
// (no coercion between strings, numbers and booleans).
function fieldEquals(value: unknown, wanted: FilterScalar): boolean {
  if (Array.isArray(value)) return typeof wanted === 'string' && value.includes(wanted);
  return value === wanted;
}

function fieldIn(value: unknown, wanted: readonly FilterScalar[]): boolean {
  return wanted.some((item) => fieldEquals(value, item));
}

function isScalar(value: unknown): value is FilterScalar {
  return typeof value === 'string' || typeof value === 'boolean' || (typeof value === 'number' && Number.isFinite(value));
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'object') return 'an object';
  if (typeof value === 'function' || typeof value === 'symbol' || typeof value === 'bigint') return `a ${typeof value}`;
  return String(value);
}

function join(path: string, key: string): string {
  return path === '' ? key : `${path}.${key}`;
}

function shown(path: string): string {
  return path === '' ? '(root)' : path;
}

function invalid(message: string): HyperspaceError {
  return new HyperspaceError('invalid', message);
}
