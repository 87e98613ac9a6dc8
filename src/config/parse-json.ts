import { ConfigurationError, describeError } from '../errors/index.js';
import type { Position } from './parse-common.js';
import { nestedTooDeeply } from './parse-common.js';

function lineCol(text: string, offset: number): Position {
  const before = text.slice(0, offset).split('\n');
  return { line: before.length, col: before[before.length - 1].length + 1 };
}

/**
 * The first key written twice in one object, in one linear pass over text JSON.parse has accepted. JSON.parse
 * itself keeps the last value silently; YAML refuses duplicates, and so must JSON, or the two formats differ.
 */
export function firstDuplicateKey(text: string): { key: string; at: Position; first: Position } | undefined {
  // One entry per open object (its keys with their positions) or array (null).
  const stack: (Map<string, Position> | null)[] = [];
  let expectKey = false;
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x0a) {
      line += 1;
      lineStart = i + 1;
    } else if (c === 0x22) {
      let j = i + 1;
      let escaped = false;
      for (; j < text.length; j++) {
        const d = text.charCodeAt(j);
        if (d === 0x5c) {
          escaped = true;
          j += 1;
        } else if (d === 0x22) break;
      }
      const top = stack[stack.length - 1];
      if (expectKey && top !== null && top !== undefined) {
        const raw = text.slice(i, j + 1);
        const key = escaped ? (JSON.parse(raw) as string) : raw.slice(1, -1);
        const at = { line, col: i - lineStart + 1 };
        const first = top.get(key);
        if (first !== undefined) return { key, at, first };
        top.set(key, at);
        expectKey = false;
      }
      i = j;
    } else if (c === 0x7b) {
      stack.push(new Map());
      expectKey = true;
    } else if (c === 0x5b) {
      stack.push(null);
      expectKey = false;
    } else if (c === 0x7d || c === 0x5d) {
      stack.pop();
      expectKey = false;
    } else if (c === 0x2c) {
      expectKey = stack[stack.length - 1] !== null && stack.length > 0;
    }
  }
  return undefined;
}

/** Parses JSON text to plain JS; ConfigurationError with line and column for a syntax error or a duplicate key. */
export function parseJson(text: string, file: string): unknown {
  let value: unknown;
  try {
    value = JSON.parse(text) as unknown;
  } catch (err) {
    if (err instanceof RangeError) throw nestedTooDeeply(file, 'JSON', err);
    const msg = describeError(err);
    const pos = /position (\d+)/.exec(msg);
    const at = pos !== null ? lineCol(text, Number(pos[1])) : undefined;
    throw new ConfigurationError(`JSON syntax error in ${file}${at !== undefined ? ` at line ${at.line}, column ${at.col}` : ''}: ${msg}`, {
      suggestions: ['Fix the syntax there (JSON allows no comments and no trailing commas), or write the config as YAML.'],
      cause: err,
    });
  }
  const dup = firstDuplicateKey(text);
  if (dup !== undefined) {
    throw new ConfigurationError(`JSON error in ${file} at line ${dup.at.line}, column ${dup.at.col}: key ${JSON.stringify(dup.key)} is written twice in this object (first at line ${dup.first.line}, column ${dup.first.col})`, {
      configKey: dup.key,
      suggestions: ['Keep one of them: with both, the second would silently replace the first.'],
    });
  }
  return value;
}
