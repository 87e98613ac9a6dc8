import { isAlias, isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, type Alias } from 'yaml';
import { ConfigurationError } from '../errors/index.js';
import { nestedTooDeeply, setKey, type Position } from './parse-common.js';

/**
 * Values that aliases may repeat in all. Repeated values are shared, not copied, but every later step (validation,
 * the typed result) walks them as often as they are referenced, so nested aliases ("billion laughs") are bounded.
 */
export const MAX_ALIASED_VALUES = 100_000;

interface Converted {
  value: unknown;
  /** Values in this subtree, counting what its aliases repeat. */
  size: number;
}

/**
 * YAML to plain JS in one linear pass over the parsed document: duplicate keys are found here with a Set per
 * mapping (the yaml package's own uniqueKeys check compares each key with every earlier one, quadratic in the keys
 * of a mapping), and aliases are expanded against a budget that names the alias which exceeds it.
 */
class YamlToJs {
  private readonly anchors = new Map<string, Converted>();
  private readonly open = new Set<string>();
  private aliased = 0;

  constructor(
    private readonly file: string,
    private readonly lines: LineCounter,
  ) {}

  at(offset: number | undefined): Position | undefined {
    return offset === undefined ? undefined : this.lines.linePos(offset);
  }

  convert(node: unknown): Converted {
    if (node === null || node === undefined) return { value: null, size: 1 };
    if (isAlias(node)) return this.alias(node);
    let out: Converted;
    if (isScalar(node)) out = { value: node.value, size: 1 };
    else if (isMap(node)) out = this.map(node.items);
    else if (isSeq(node)) {
      const value: unknown[] = [];
      let size = 1;
      for (const item of node.items) {
        const c = this.convert(item);
        value.push(c.value);
        size += c.size;
      }
      out = { value, size };
    } else if (isPair(node)) out = this.map([node]);
    else out = { value: null, size: 1 };
    const anchor = (node as { anchor?: string }).anchor;
    if (anchor !== undefined) {
      this.anchors.set(anchor, out);
      this.open.delete(anchor);
    }
    return out;
  }

  private map(items: readonly unknown[]): Converted {
    const value: Record<string, unknown> = {};
    const seen = new Map<string, Position | undefined>();
    let size = 1;
    for (const item of items) {
      if (!isPair(item)) continue;
      const keyNode = item.key as { range?: [number, number, number] } | null;
      const key = this.convert(item.key);
      const name = key.value === null ? '' : typeof key.value === 'object' ? JSON.stringify(key.value) : String(key.value);
      const here = this.at(keyNode?.range?.[0]);
      if (seen.has(name)) {
        const first = seen.get(name);
        throw new ConfigurationError(`YAML error in ${this.file}${where(here)}: key ${JSON.stringify(name)} is written twice in this mapping${first !== undefined ? ` (first at line ${first.line}, column ${first.col})` : ''}`, {
          configKey: name,
          suggestions: ['Keep one of them: with both, the second would silently replace the first.'],
        });
      }
      seen.set(name, here);
      const v = this.convert(item.value);
      setKey(value, name, v.value);
      size += v.size;
    }
    return { value, size };
  }

  private alias(node: Alias): Converted {
    const pos = this.at(node.range?.[0]);
    const target = this.anchors.get(node.source);
    if (target === undefined) {
      throw new ConfigurationError(`YAML error in ${this.file}${where(pos)}: alias *${node.source} has no anchor &${node.source} before it`, {
        suggestions: [`Define &${node.source} on a value earlier in the file, or write the value out.`],
      });
    }
    this.aliased += target.size;
    if (this.aliased > MAX_ALIASED_VALUES) {
      throw new ConfigurationError(
        `YAML aliases in ${this.file} repeat more than ${MAX_ALIASED_VALUES} values in all, the limit being reached at alias *${node.source}${where(pos)}: nested aliases that multiply (an "alias bomb") are refused`,
        { suggestions: ['Write the repeated values out, or use fewer, un-nested aliases: a training config needs only a few.'] },
      );
    }
    return target;
  }
}

function where(pos: Position | undefined): string {
  return pos === undefined || pos.line === 0 ? '' : ` at line ${pos.line}, column ${pos.col}`;
}

/** Parses YAML text (one document) to plain JS; ConfigurationError with line and column for anything wrong. */
export function parseYaml(text: string, file: string): unknown {
  try {
    const lines = new LineCounter();
    // uniqueKeys off: duplicates are reported by YamlToJs, in linear time.
    const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: false, lineCounter: lines });
    if (doc.errors.length > 0) {
      const first = doc.errors[0];
      if (/call stack/i.test(first.message)) throw nestedTooDeeply(file, 'YAML', first);
      const pos = first.linePos?.[0];
      const problem = first.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '');
      throw new ConfigurationError(`YAML syntax error in ${file}${where(pos)}: ${problem}`, {
        suggestions: ['Fix the syntax there: indent with spaces (not tabs), put a space after each ":", and quote strings holding ":" or "#".'],
        cause: first,
      });
    }
    return new YamlToJs(file, lines).convert(doc.contents).value;
  } catch (err) {
    if (err instanceof RangeError) throw nestedTooDeeply(file, 'YAML', err);
    throw err;
  }
}
