/** Versions, requirements and wheels: the pure parts of the wheelhouse. */
import { zipSync } from 'fflate';
import { writeFileSync } from 'node:fs';
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
    ['no METADATA', 'a-1.0-py3-none-any.whl', zipSync({ 'a/__init__.py': new Uint8Array(0) }), /no \.dist-info\/METADATA/],
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
});
