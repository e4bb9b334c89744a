/** Versions, requirements and wheels: the pure parts of the wheelhouse. */
import { zipSync } from 'fflate';
import { chmodSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { resolve, type ImageDistributions } from '../../src/packages/resolve';
import { Wheelhouse } from '../../src/packages/wheelhouse';
import { parseRequiresDist, parseRunDependency, satisfies, type Requirement } from '../../src/packages/requirements';
import { compareVersions, parseVersion } from '../../src/packages/version';
import { readWheel, tagsFit, WheelError } from '../../src/packages/wheel';
import { testDataDir } from '../support/config';
import { makeWheel } from '../support/wheels';

const v = (text: string) => parseVersion(text)!;

describe('versions (PEP 440)', () => {
  it('orders dev, pre, final and post releases, epochs and release lengths', () => {
    const ordered = [
      '1.0.dev1',
      '1.0a1',
      '1.0a2.dev1',
      '1.0a2',
      '1.0b1',
      '1.0rc1',
      '1.0',
      '1.0.post1.dev0',
      '1.0.post1',
      '1.0.1',
      '1.1',
      '2!0.1',
    ];
    for (let i = 1; i < ordered.length; i++)
      expect([ordered[i - 1], compareVersions(v(ordered[i - 1]), v(ordered[i]))]).toEqual([ordered[i - 1], -1]);
    expect(compareVersions(v('1.0'), v('1.0.0'))).toBe(0);
    expect(compareVersions(v('1.0+local.1'), v('1.0'))).toBe(0);
    expect(parseVersion('not a version')).toBeUndefined();
  });

  it('matches specifiers, including prefixes, compatible releases, and pre-releases only when named', () => {
    expect(
      satisfies(v('1.4.2'), [
        { op: '>=', version: '1.4' },
        { op: '<', version: '2' },
      ]),
    ).toBe(true);
    expect(satisfies(v('1.4.2'), [{ op: '==', version: '1.4.*' }])).toBe(true);
    expect(satisfies(v('1.5'), [{ op: '~=', version: '1.4.2' }])).toBe(false);
    expect(satisfies(v('1.4.9'), [{ op: '~=', version: '1.4.2' }])).toBe(true);
    expect(satisfies(v('2.0a1'), [{ op: '>=', version: '1.0' }])).toBe(false);
    expect(satisfies(v('2.0a1'), [{ op: '>=', version: '2.0a1' }])).toBe(true);
    expect(satisfies(v('1.0'), [{ op: '!=', version: '1.0' }])).toBe(false);
  });
});

describe("a run's dependencies", () => {
  it.each(['numpy', 'tiny-pkg==1.0.2', 'Tiny_Pkg >= 1.0', 'x<=2.0rc1'])('accepts %s', (text) => {
    expect(typeof parseRunDependency(text)).toBe('object');
  });

  it('normalises names and keeps the pin', () => {
    expect(parseRunDependency('Tiny_Pkg.Extra==1.0')).toEqual({
      name: 'Tiny_Pkg.Extra',
      key: 'tiny-pkg-extra',
      specifiers: [{ op: '==', version: '1.0' }],
    });
  });

  it.each([
    '--index-url=https://evil.example/simple',
    '-e .',
    '-r requirements.txt',
    'https://evil.example/pkg.whl',
    'pkg @ https://evil.example/pkg.whl',
    './local/path',
    '/abs/path.whl',
    'pkg[extra]',
    'pkg; python_version > "3"',
    'pkg>1.0',
    'pkg~=1.0',
    'pkg==1.0,<2',
    'pkg==not.a.version',
    '',
    'pkg name',
    'pkg\n--extra-index-url x',
    'a'.repeat(101),
  ])('refuses %j with a reason', (text) => {
    expect(typeof parseRunDependency(text)).toBe('string');
  });
});

describe('Requires-Dist', () => {
  it('reads names, extras and specifiers, and drops what this interpreter or no extra needs', () => {
    expect(parseRequiresDist('tiny-dep (>=1.0,<2)')).toEqual({
      name: 'tiny-dep',
      key: 'tiny-dep',
      specifiers: [
        { op: '>=', version: '1.0' },
        { op: '<', version: '2' },
      ],
    });
    expect(parseRequiresDist('requests[socks]>=2')).toMatchObject({ key: 'requests', specifiers: [{ op: '>=', version: '2' }] });
    expect(parseRequiresDist('pytest; extra == "test"')).toBeUndefined();
    expect(parseRequiresDist('tomli>=1.1; python_version < "3.11"')).toBeUndefined();
    expect(parseRequiresDist('typing-extensions; python_version >= "3.8"')).toMatchObject({ key: 'typing-extensions' });
    expect(parseRequiresDist('pywin32; sys_platform == "win32"')).toBeUndefined();
  });
});

describe('wheels', () => {
  it('reads a wheel: name, version, dependencies for this interpreter', () => {
    const { file, bytes } = makeWheel({ name: 'tiny-app', version: '1.2.0', requires: ['tiny-dep>=1.0', 'pytest; extra == "test"'] });
    expect(file).toBe('tiny_app-1.2.0-py3-none-any.whl');
    expect(readWheel(file, bytes)).toMatchObject({
      name: 'tiny-app',
      key: 'tiny-app',
      version: '1.2.0',
      requires: [{ key: 'tiny-dep', specifiers: [{ op: '>=', version: '1.0' }] }],
    });
  });

  it.each([
    ['a name that is not a wheel’s', 'package.zip', makeWheel({ name: 'a', version: '1' }).bytes, /not a wheel file name/],
    ['not a zip', 'a-1.0-py3-none-any.whl', new TextEncoder().encode('not a zip'), /not a readable zip archive/],
    ['no METADATA', 'a-1.0-py3-none-any.whl', zipSync({ 'a/__init__.py': new Uint8Array(0) }), /no a-1\.0\.dist-info\/METADATA inside/],
    [
      'METADATA naming another package',
      'a-1.0-py3-none-any.whl',
      makeWheel({ name: 'a', version: '1.0', metadataName: 'b' }).bytes,
      /METADATA says b 1\.0/,
    ],
    ['a Python 2 wheel', 'a-1.0-py2-none-any.whl', makeWheel({ name: 'a', version: '1.0', tag: 'py2-none-any' }).bytes, /built for py2/],
    [
      'a Windows wheel',
      'a-1.0-cp311-cp311-win_amd64.whl',
      makeWheel({ name: 'a', version: '1.0', tag: 'cp311-cp311-win_amd64' }).bytes,
      /not x86_64 Linux/,
    ],
    [
      'another CPython’s ABI',
      'a-1.0-cp312-cp312-manylinux_2_17_x86_64.whl',
      makeWheel({ name: 'a', version: '1.0', tag: 'cp312-cp312-manylinux_2_17_x86_64' }).bytes,
      /built for cp312/,
    ],
    [
      'a newer Python only',
      'a-1.0-py3-none-any.whl',
      makeWheel({ name: 'a', version: '1.0', requiresPython: '>=3.12' }).bytes,
      /requires Python >=3\.12/,
    ],
  ])('refuses %s', (_what, file, bytes, message) => {
    expect(() => readWheel(file, bytes)).toThrow(WheelError);
    expect(() => readWheel(file, bytes)).toThrow(message);
  });

  it('inflates only the METADATA its name promises, within 1 MB, and refuses a second .dist-info', () => {
    const huge = zipSync({ 'a-1.0.dist-info/METADATA': new Uint8Array(2 * 1024 * 1024) });
    expect(() => readWheel('a-1.0-py3-none-any.whl', huge)).toThrow(/METADATA is over 1 MB/);
    const { bytes } = makeWheel({ name: 'a', version: '1.0' });
    const twice = zipSync({
      'z-9.dist-info/METADATA': new TextEncoder().encode('Name: z\nVersion: 9\n'),
      'a-1.0.dist-info/METADATA': new TextEncoder().encode('Name: a\nVersion: 1.0\n'),
    });
    expect(() => readWheel('a-1.0-py3-none-any.whl', twice)).toThrow(/more than one \.dist-info\/METADATA/);
    expect(readWheel('a-1.0-py3-none-any.whl', bytes).name).toBe('a');
  });

  it.each(['a-1.0-py3-none-any.x;y.whl', 'a- 1.0-py3-none-any.whl', 'a-1.0-py3-none-any$(id).whl', 'a-1.0-py3-none-\u001b[31many.whl'])(
    'refuses the file name %j, which pip or a terminal would misread',
    (file) => {
      expect(() => readWheel(file, makeWheel({ name: 'a', version: '1.0' }).bytes)).toThrow(/not a wheel file name/);
    },
  );

  it('takes the platform tags the image can install', () => {
    expect(tagsFit({ python: ['cp311'], abi: ['cp311'], platform: ['manylinux_2_17_x86_64', 'manylinux2014_x86_64'] })).toBeUndefined();
    expect(tagsFit({ python: ['cp38'], abi: ['abi3'], platform: ['manylinux_2_28_x86_64'] })).toBeUndefined();
    expect(tagsFit({ python: ['cp311'], abi: ['cp311'], platform: ['manylinux_2_38_x86_64'] })).toMatch(/glibc 2\.36/);
    expect(tagsFit({ python: ['cp311'], abi: ['cp311'], platform: ['manylinux_2_17_aarch64'] })).toMatch(/not x86_64/);
  });
});

describe('the wheelhouse and resolving against it', () => {
  const folder = () => testDataDir();
  const put = (dir: string, spec: Parameters<typeof makeWheel>[0]) => {
    const { file, bytes } = makeWheel(spec);
    writeFileSync(join(dir, file), bytes);
    return file;
  };
  const image: ImageDistributions = new Map([['numpy', { name: 'numpy', version: '1.24.2' }]]);
  const req = (text: string) => parseRunDependency(text) as Requirement;

  it('lists checked wheels with their hashes, reports invalid files apart, and sees a replaced wheel', () => {
    const dir = folder();
    put(dir, { name: 'tiny-dep', version: '1.0' });
    writeFileSync(join(dir, 'broken-1.0-py3-none-any.whl'), 'not a zip');
    const house = new Wheelhouse(dir);
    const first = house.scan();
    expect(first.wheels.map((w) => [w.key, w.version])).toEqual([['tiny-dep', '1.0']]);
    expect(first.invalid).toEqual([{ file: 'broken-1.0-py3-none-any.whl', reason: expect.stringMatching(/not a readable zip/) }]);
    const before = first.wheels[0].sha256;
    put(dir, { name: 'tiny-dep', version: '1.0', files: { 'tiny_dep/__init__.py': 'changed = True\n' } });
    expect(house.scan().wheels[0].sha256).not.toBe(before);
  });

  it('reports a symbolic link, or a wheel the sandbox user cannot read, instead of using it', () => {
    const dir = folder();
    const outside = folder();
    const target = put(outside, { name: 'linked', version: '1.0' });
    symlinkSync(join(outside, target), join(dir, target));
    const unreadable = put(dir, { name: 'private', version: '1.0' });
    chmodSync(join(dir, unreadable), 0o600);
    const { wheels, invalid } = new Wheelhouse(dir).scan();
    expect(wheels).toEqual([]);
    expect(invalid.map((i) => i.reason).sort()).toEqual(
      [`${target}: not a regular file`, `${unreadable}: not readable by the sandbox user (chmod 644)`].sort(),
    );
  });

  it('adds a wheel only after checking it', () => {
    const source = folder();
    const dir = folder();
    const good = put(source, { name: 'tiny-app', version: '2.0' });
    const bad = put(source, { name: 'win-only', version: '1.0', tag: 'cp311-cp311-win_amd64' });
    const house = new Wheelhouse(dir);
    expect(house.add(join(source, good))).toMatchObject({ key: 'tiny-app', version: '2.0' });
    expect(() => house.add(join(source, bad))).toThrow(/not x86_64 Linux/);
    expect(house.scan().wheels.map((w) => w.file)).toEqual([good]);
  });

  it('resolves a chain from the wheelhouse, takes what the image has, and picks the highest fitting version', () => {
    const dir = folder();
    put(dir, { name: 'tiny-app', version: '1.0', requires: ['tiny-dep>=1.1', 'numpy>=1.20'] });
    put(dir, { name: 'tiny-dep', version: '1.0' });
    put(dir, { name: 'tiny-dep', version: '1.2' });
    put(dir, { name: 'tiny-dep', version: '2.0rc1' });
    const { wheels } = new Wheelhouse(dir).scan();
    const resolved = resolve([req('tiny-app'), req('numpy')], image, wheels);
    expect('packages' in resolved && resolved.packages.map(({ name, version, source }) => [name, version, source])).toEqual([
      ['tiny-app', '1.0', 'wheelhouse'],
      ['numpy', '1.24.2', 'image'],
      ['tiny-dep', '1.2', 'wheelhouse'],
    ]);
    expect(resolve([req('tiny-dep==1.0')], image, wheels)).toMatchObject({ packages: [{ version: '1.0' }] });
  });

  it('names what cannot be met, and what there is', () => {
    const dir = folder();
    put(dir, { name: 'tiny-dep', version: '1.0' });
    put(dir, { name: 'needs-new', version: '1.0', requires: ['tiny-dep>=3'] });
    const { wheels } = new Wheelhouse(dir).scan();
    expect(resolve([req('absent')], image, wheels)).toEqual({ unmet: 'absent cannot be satisfied: the wheelhouse has no wheel of it' });
    expect(resolve([req('tiny-dep>=2')], image, wheels)).toEqual({ unmet: 'tiny-dep>=2 cannot be satisfied: the wheelhouse has 1.0' });
    expect(resolve([req('numpy>=2')], image, wheels)).toEqual({
      unmet: 'numpy>=2 cannot be satisfied: the image has 1.24.2; the wheelhouse has no wheel of it',
    });
    expect(resolve([req('needs-new')], image, wheels)).toEqual({
      unmet: 'tiny-dep>=3 (needed by needs-new 1.0) cannot be satisfied: the wheelhouse has 1.0',
    });
    expect(resolve([req('tiny-dep==1.0'), req('needs-new')], image, wheels)).toMatchObject({
      unmet: expect.stringMatching(/conflicts with tiny-dep==1\.0/),
    });
  });

  it('without a wheelhouse: takes what the image has, and says what the server lacks and who can fix it', () => {
    const noWheelhouse =
      'this server has no wheelhouse (RUNBOX_WHEELHOUSE is unset), so it cannot install dependencies; ask its operator to set one up with `runbox packages add`';
    expect(resolve([req('numpy>=1.20')], image, undefined)).toEqual({ packages: [{ name: 'numpy', version: '1.24.2', source: 'image' }] });
    expect(resolve([req('tabulate')], image, undefined)).toEqual({
      unmet: `tabulate cannot be satisfied: the image does not have it, and ${noWheelhouse}`,
    });
    expect(resolve([req('numpy'), req('numpy>=2')], image, undefined)).toEqual({
      unmet: `numpy>=2 cannot be satisfied: the image has 1.24.2, and ${noWheelhouse}`,
    });
    // An empty wheelhouse is still one: its answer is the wheelhouse's.
    expect(resolve([req('tabulate')], image, [])).toEqual({ unmet: 'tabulate cannot be satisfied: the wheelhouse has no wheel of it' });
  });
});

describe('resolving, beyond the first choice', () => {
  const dir = testDataDir();
  for (const spec of [
    { name: 'foo', version: '1.0' },
    { name: 'foo', version: '1.9' },
    { name: 'foo', version: '2.0rc1' },
    { name: 'only-pre', version: '1.0b1' },
    { name: 'six', version: '1.17.0' },
    { name: 'bar', version: '1.0', requires: ['six>=1.17'] },
  ]) {
    const { file, bytes } = makeWheel(spec);
    writeFileSync(join(dir, file), bytes);
  }
  const { wheels } = new Wheelhouse(dir).scan();
  const image: ImageDistributions = new Map([['six', { name: 'six', version: '1.16.0' }]]);
  const req = (text: string) => parseRunDependency(text) as Requirement;
  const versions = (r: ReturnType<typeof resolve>) =>
    'packages' in r ? r.packages.map((p) => `${p.name} ${p.version} ${p.source}`) : r.unmet;

  it('prefers final releases, taking a pre-release only when nothing else fits', () => {
    expect(versions(resolve([req('foo')], image, wheels))).toEqual(['foo 1.9 wheelhouse']);
    expect(versions(resolve([req('only-pre')], image, wheels))).toEqual(['only-pre 1.0b1 wheelhouse']);
  });

  it("merges the run's own requirements on one package", () => {
    expect(versions(resolve([req('foo'), req('foo<=1.0')], image, wheels))).toEqual(['foo 1.0 wheelhouse']);
  });

  it("swaps the image's version for a wheel when a dependency needs a newer one", () => {
    expect(versions(resolve([req('six'), req('bar')], image, wheels))).toEqual(['six 1.17.0 wheelhouse', 'bar 1.0 wheelhouse']);
  });
});
