/**
 * Docs that stay true: the README and SECURITY.md are checked against the code and the tests they describe.
 *
 * Test citations in SECURITY.md. Every `backticked` span in a cell of a table column headed "test" cites a
 * test by its title: the title of an `it`/`test` (also `.each`, `.only`, `.skip`…) or of a `describe`, found
 * by parsing test/**\/*.ts as text (never running it). `…` in a citation stands for elided text, so a
 * trailing `…` cites by prefix (`fork bomb: …`) and one in the middle skips a part (`input name …: 400 …`);
 * without `…` the citation is the whole title. An `.each` title over a literal table stands for one title per
 * row, its placeholders (`%s`, `%j`, `%i`, `%#`…) filled in as jest does; a value not written literally, every
 * placeholder of a computed table, a tagged-template table's `$field` and a `${…}` in a template-literal title
 * match any text. A citation followed by "(unit)" (or "(unit: …)") or "unit tests"
 * must match a test that `npm run test:unit` runs (test/unit or test/http). Anything in a test cell that is
 * not a test title belongs outside backticks: "(setting, unit)", "same test (uid)".
 */
import Ajv from 'ajv';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import * as ts from 'typescript';
import { runResponse, runResponseSchema } from '../../src/api/run-response';
import { HTTP_SETTINGS, SETTINGS } from '../../src/config';
import type { RunResult } from '../../src/sandbox/runner';

const root = join(__dirname, '../..');
const readme = readFileSync(join(root, 'README.md'), 'utf8');
const security = readFileSync(join(root, 'SECURITY.md'), 'utf8');

describe('README configuration table', () => {
  it.each([...Object.values(SETTINGS), ...Object.values(HTTP_SETTINGS)].map((s) => [s.env, s.default]))(
    'documents %s with its default %s',
    (env, value) => {
      expect(readme).toContain(`| \`${env}\` | \`${value}\``);
    },
  );
});

describe('README example response', () => {
  it('has exactly the fields of a POST /v1/runs 200 response, in their order', () => {
    const example = /^## Example\n[\s\S]*?^```json\n([\s\S]*?)^```$/m.exec(readme);
    expect(example).not.toBeNull();
    const sample: RunResult = {
      id: '4fd3aae3-862a-4e9a-96e6-0d2ff228f4b3',
      status: 'ok',
      exitCode: 0,
      stdout: { encoding: 'utf8', content: '4\n' },
      stderr: { encoding: 'utf8', content: '' },
      stdoutTruncated: false,
      stderrTruncated: false,
      timedOut: false,
      oomKilled: false,
      durationMs: 100,
      queuedMs: 0,
      artifacts: [],
      artifactsTruncated: false,
      usage: { cpuMs: 21, maxRssKb: 9216 },
      installMs: 0,
      message: null,
    };
    const shown = JSON.parse(example![1]);
    expect(Object.keys(shown)).toEqual(Object.keys(runResponse(sample)));
    expect(new Ajv({ strict: false }).validate(runResponseSchema, shown)).toBe(true);
  });
});

// A pattern is a string in which WILD stands for any text (a citation's `…`, a title's placeholder).
const WILD = '\u0000';

/** Whether some string matches both patterns (each a sequence of literal characters and WILDs). */
function overlap(a: string, b: string): boolean {
  const seen = new Set<number>();
  const step = (i: number, j: number): boolean => {
    if (i === a.length && j === b.length) return true;
    const key = i * (b.length + 1) + j;
    if (seen.has(key)) return false;
    seen.add(key);
    if (a[i] === WILD) return step(i + 1, j) || (j < b.length && step(i, j + 1));
    if (b[j] === WILD) return step(i, j + 1) || (i < a.length && step(i + 1, j));
    return i < a.length && j < b.length && a[i] === b[j] && step(i + 1, j + 1);
  };
  return step(0, 0);
}

interface Title {
  pattern: string;
  file: string;
}

const TEST_FUNCTIONS = new Set(['it', 'test', 'describe']);

/** The function a test call names: `it`, `it.only`, `describe.skip`… give it/describe; anything else nothing. */
function testFunction(callee: ts.Expression): string | undefined {
  while (ts.isPropertyAccessExpression(callee)) callee = callee.expression;
  return ts.isIdentifier(callee) && TEST_FUNCTIONS.has(callee.text) ? callee.text : undefined;
}

const UNKNOWN = Symbol('not written literally');

/** The value a table cell is written as, when it is a literal (strings, numbers, arrays, plain objects). */
function literal(node: ts.Expression): unknown {
  if (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node)) return node.text;
  if (ts.isNumericLiteral(node)) return Number(node.text);
  if (ts.isPrefixUnaryExpression(node) && node.operator === ts.SyntaxKind.MinusToken && ts.isNumericLiteral(node.operand))
    return -Number(node.operand.text);
  if (node.kind === ts.SyntaxKind.TrueKeyword) return true;
  if (node.kind === ts.SyntaxKind.FalseKeyword) return false;
  if (node.kind === ts.SyntaxKind.NullKeyword) return null;
  if (ts.isArrayLiteralExpression(node)) {
    const values = node.elements.map(literal);
    return values.includes(UNKNOWN) ? UNKNOWN : values;
  }
  if (ts.isObjectLiteralExpression(node)) {
    const entries = node.properties.map((p) =>
      ts.isPropertyAssignment(p) && (ts.isIdentifier(p.name) || ts.isStringLiteral(p.name))
        ? [p.name.text, literal(p.initializer)]
        : UNKNOWN,
    );
    return entries.some((e) => e === UNKNOWN || e[1] === UNKNOWN) ? UNKNOWN : Object.fromEntries(entries as [string, unknown][]);
  }
  return UNKNOWN;
}

/** A title as written, with WILD for each `${…}`; undefined when it is not written literally (a variable, a function). */
function titleText(node: ts.Expression): string | undefined {
  if (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node)) return node.text;
  if (ts.isTemplateExpression(node)) return [node.head.text, ...node.templateSpans.map((s) => WILD + s.literal.text)].join('');
  return undefined;
}

/**
 * The titles an `.each` title stands for: with a literal array table, one per row, its placeholders filled in as
 * jest does (WILD for a value that is not written literally); with a computed table every placeholder is WILD,
 * and with a tagged-template table every `$field`.
 */
function eachTitles(title: string, table: ts.Node | undefined): string[] {
  if (table && ts.isTemplateLiteral(table)) return [title.replace(/\$[\w.#]+/g, WILD)];
  const rows: unknown[][] =
    table && ts.isArrayLiteralExpression(table)
      ? table.elements.map((row) => (ts.isArrayLiteralExpression(row) ? row.elements.map(literal) : [literal(row)]))
      : [[]];
  const format = (spec: string, value: unknown): string => {
    if (value === UNKNOWN || value === undefined) return WILD;
    if (spec === 's') return String(value);
    if (spec === 'd' || spec === 'f') return String(Number(value));
    if (spec === 'i') return String(parseInt(String(value), 10));
    return JSON.stringify(value); // %j, and near enough for %p and %o
  };
  return rows.map((args, index) => {
    let next = 0;
    return title.replace(/%([psdifjoO#$%])/g, (_match, spec: string) => {
      if (spec === '%') return '%';
      if (spec === '#') return String(index);
      if (spec === '$') return String(index + 1);
      return format(spec, args[next++]);
    });
  });
}

const isEach = (node: ts.Node) => ts.isPropertyAccessExpression(node) && node.name.text === 'each';

/** Every title in a test source: it('title', fn), describe.skip('title', fn), it.each(table)('title', fn), it.each`table`(…). */
function titlesIn(file: string, source: string): Title[] {
  const titles: Title[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isCallExpression(node) && node.arguments.length) {
      let callee: ts.Node = node.expression;
      let table: ts.Node | undefined;
      let each = false;
      if (ts.isCallExpression(callee) && isEach(callee.expression)) [each, table, callee] = [true, callee.arguments[0], callee.expression];
      else if (ts.isTaggedTemplateExpression(callee) && isEach(callee.tag)) [each, table, callee] = [true, callee.template, callee.tag];
      const title = testFunction(callee as ts.Expression) && titleText(node.arguments[0]);
      if (typeof title === 'string') for (const pattern of each ? eachTitles(title, table) : [title]) titles.push({ pattern, file });
    }
    ts.forEachChild(node, visit);
  };
  visit(ts.createSourceFile(file, source, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS));
  return titles;
}

function collectTitles(dir: string, titles: Title[] = []): Title[] {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) collectTitles(path, titles);
    else if (entry.name.endsWith('.ts')) titles.push(...titlesIn(relative(root, path).split(sep).join('/'), readFileSync(path, 'utf8')));
  }
  return titles;
}

interface Citation {
  name: string;
  unit: boolean;
  line: number;
}

/** The backticked spans in the "test" column of every table in a Markdown document. */
function citedTests(markdown: string): Citation[] {
  const cells = (row: string) =>
    row
      .trim()
      .replace(/^\||\|$/g, '')
      .split(/(?<!\\)\|/)
      .map((cell) => cell.trim());
  const citations: Citation[] = [];
  let column = -1;
  markdown.split('\n').forEach((row, index, rows) => {
    if (!row.trim().startsWith('|')) return void (column = -1);
    const next = rows[index + 1] ?? '';
    if (column < 0 && /^\s*\|(\s*:?-+:?\s*\|)+\s*$/.test(next)) return void (column = cells(row).indexOf('test'));
    if (column < 0 || /^\s*\|(\s*:?-+:?\s*\|)+\s*$/.test(row)) return;
    const cell = cells(row)[column] ?? '';
    for (const match of cell.matchAll(/`([^`]+)`([^`]*)/g)) {
      citations.push({ name: match[1], unit: /^\s*(\(unit\b|unit tests\b)/.test(match[2]), line: index + 1 });
    }
  });
  return citations;
}

// The roots of the unit tier (jest.config.js): what `npm run test:unit` runs.
const UNIT_ROOTS = ['test/unit/', 'test/http/'];

/** Whether a citation names some title (one in the unit suite, for a "(unit)" citation). */
const isCited = ({ name, unit }: Citation, titles: Title[]) =>
  titles.some((t) => (!unit || UNIT_ROOTS.some((r) => t.file.startsWith(r))) && overlap(name.replace(/…/g, WILD), t.pattern));

describe('SECURITY.md test citations', () => {
  const titles = collectTitles(join(root, 'test'));
  const citations = citedTests(security);

  it('reads titles and citations by the convention above', () => {
    const sample = titlesIn(
      'test/unit/sample.test.ts',
      [
        "describe('Parser', () => {",
        "  it('says \\'no\\' to a bomb: fork fails', () => {});",
        "  it.each([['endless stdout', 1], ['heavy stderr', 2]])('%s: kept to the cap (%i)', () => {});",
        "  it.each(rows.map((r) => [r]))('computed %s row', () => {});",
        '});',
      ].join('\n'),
    );
    expect(sample.map((t) => t.pattern)).toEqual([
      'Parser',
      "says 'no' to a bomb: fork fails",
      'endless stdout: kept to the cap (1)',
      'heavy stderr: kept to the cap (2)',
      `computed ${WILD} row`,
    ]);
    const cites = (name: string, unit = false) => isCited({ name, unit, line: 0 }, sample);
    expect(["says 'no' to a bomb: …", 'says …: fork fails', 'heavy stderr: …', 'computed x row', 'Parser'].every((n) => cites(n))).toBe(
      true,
    );
    expect(cites('Parser', true)).toBe(true);
    expect(["says 'no' to a bomb", 'endless stdout', 'one huge line: …', 'says no…', 'Pars'].some((n) => cites(n))).toBe(false);
    expect(isCited({ name: 'Parser', unit: true, line: 0 }, [{ pattern: 'Parser', file: 'test/attacks/a.test.ts' }])).toBe(false);

    const table = [
      '| control | test |',
      '| --- | --- |',
      '| a | `x: …` (unit), `y` |',
      '',
      '| test | other |',
      '|---|---|',
      '| `z` | `w` |',
    ];
    expect(citedTests(table.join('\n'))).toEqual([
      { name: 'x: …', unit: true, line: 3 },
      { name: 'y', unit: false, line: 3 },
      { name: 'z', unit: false, line: 7 },
    ]);
  });

  it('finds the tests and the citations', () => {
    expect(titles.length).toBeGreaterThan(100);
    expect(citations.length).toBeGreaterThan(50);
  });

  it('cites only tests that exist', () => {
    const missing = citations
      .filter((citation) => !isCited(citation, titles))
      .map(({ name, unit, line }) => `SECURITY.md:${line}: \`${name}\`${unit ? ' (unit)' : ''} matches no test title in test/`);
    expect(missing).toEqual([]);
  });
});
