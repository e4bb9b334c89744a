import { pathConflict, relativePathProblem } from '../../src/sandbox/paths';

describe('relativePathProblem', () => {
  it.each([['main.py'], ['data/input.csv'], ['a/b/c/d.txt'], ['ünïcode.txt']])('accepts %s', (path) =>
    expect(relativePathProblem(path)).toBeUndefined(),
  );

  it.each([
    ['', /empty/],
    ['/etc/passwd', /absolute/],
    ['../x', /'\.\.'/],
    ['a/../../x', /'\.\.'/],
    ['./x', /'\.'/],
    ['a//b', /empty segment/],
    ['a/', /empty segment/],
    ['a\u0000b', /NUL/],
    ['a\nb', /control/],
    ['-rf', /starting with -/],
    ['a\\b', /backslash/],
    ['x'.repeat(256), /segment longer/],
    [Array(17).fill('d').join('/'), /deeper/],
    ['y/'.repeat(300) + 'z', /longer than 512/],
    ['invoice\u202etxt.exe', /U\+202E, a control, format or separator/],
    ['a\u2066b', /U\+2066/],
    ['line\u2028break', /U\+2028/],
    ['para\u2029graph', /U\+2029/],
    ['next\u0085line', /U\+0085/],
    ['zero\u200bwidth', /U\+200B/],
    ['\ufeffbom', /U\+FEFF/],
    ['soft\u00adhyphen', /U\+00AD/],
    ['lone\ud800surrogate', /not valid Unicode/],
    ['replaced\ufffd', /not valid Unicode/],
  ])('rejects %j', (path, why) => expect(relativePathProblem(path)).toMatch(why));
});

describe('pathConflict', () => {
  it('finds duplicates', () => expect(pathConflict(['a.py', 'b.py', 'a.py'])).toMatch(/a.py is given twice/));
  it('finds a file that is also a folder', () => expect(pathConflict(['a', 'a/b.txt'])).toMatch(/a is a file/));
  it('accepts distinct paths', () => expect(pathConflict(['a/b', 'a/c', 'b'])).toBeUndefined());
});
