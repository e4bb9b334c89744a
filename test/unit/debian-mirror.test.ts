/** images/python/debian-mirror.sh: which Debian mirror the image build reads from the host's apt configuration. */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const SCRIPT = join(__dirname, '../../images/python/debian-mirror.sh');

let aptDir: string;

beforeEach(() => {
  aptDir = mkdtempSync(join(tmpdir(), 'runbox-apt-'));
  mkdirSync(join(aptDir, 'sources.list.d'));
});

afterEach(() => rmSync(aptDir, { recursive: true, force: true }));

/** Writes `files` (paths relative to the apt directory). */
function apt(files: Record<string, string>): void {
  for (const [name, text] of Object.entries(files)) writeFileSync(join(aptDir, name), text);
}

function env(override?: string): NodeJS.ProcessEnv {
  const vars = { ...process.env };
  delete vars.RUNBOX_DEBIAN_MIRROR;
  if (override !== undefined) vars.RUNBOX_DEBIAN_MIRROR = override;
  return vars;
}

/** The mirror the script prints for the apt directory. */
function mirror(override?: string): string {
  return execFileSync('bash', [SCRIPT, aptDir], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env: env(override) }).trim();
}

/** The script's exit status and stderr when it finds nothing. */
function failure(override?: string): { status: number | null; stderr: string } {
  try {
    mirror(override);
  } catch (err) {
    const e = err as { status: number | null; stderr: string };
    return { status: e.status, stderr: e.stderr };
  }
  throw new Error('debian-mirror.sh succeeded');
}

const DEB822 = `Types: deb
# http://snapshot.example/archive/debian/20250520T000000Z
URIs: http://mirror.example/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://mirror.example/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
`;

describe('deb822 .sources files', () => {
  it('takes the bookworm entry, not the security one', () => {
    apt({ 'sources.list.d/debian.sources': DEB822 });
    expect(mirror()).toBe('http://mirror.example/debian');
  });

  it('skips security/updates-only, deb-src, disabled and main-less entries and takes the first of several URIs', () => {
    apt({
      'sources.list.d/debian.sources': `# leading comment
Types: deb
URIs: http://security.example/debian-security
Suites: bookworm-security bookworm-updates
Components: main

Types: deb-src
URIs: http://src.example/debian
Suites: bookworm
Components: main

Enabled: no
Types: deb
URIs: http://disabled.example/debian
Suites: bookworm
Components: main

Types: deb
URIs: http://contrib.example/debian
Suites: bookworm
Components: contrib non-free

types: deb-src deb
uris: https://first.example/debian/
 https://second.example/debian
suites: bookworm
components: main contrib
Signed-By:
 -----BEGIN PGP PUBLIC KEY BLOCK-----
 .
 mQINBGPL0BUBEADmW5NlOsRU
 -----END PGP PUBLIC KEY BLOCK-----
`,
    });
    expect(mirror()).toBe('https://first.example/debian');
  });

  it('ignores files that are neither .list nor .sources, and other suites', () => {
    apt({
      'sources.list.d/a.sources.disabled': DEB822.replace('mirror.example', 'disabled.example'),
      'sources.list.d/b.sources': 'Types: deb\nURIs: https://node.example/node_20.x\nSuites: nodistro\nComponents: main\n',
      'sources.list.d/c.sources': DEB822,
    });
    expect(mirror()).toBe('http://mirror.example/debian');
  });
});

describe('one-line sources.list entries', () => {
  it('reads sources.list with options, comments and security/updates lines', () => {
    apt({
      'sources.list': `# deb http://commented.example/debian bookworm main
deb-src http://src.example/debian bookworm main
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://security.example/debian-security bookworm-security main
deb http://updates.example/debian bookworm-updates main
deb [ arch=amd64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg ] http://mirror.example/debian bookworm main contrib # trailing comment
deb http://later.example/debian bookworm main
`,
    });
    expect(mirror()).toBe('http://mirror.example/debian');
  });

  it('reads sources.list.d/*.list, skipping entries without main or with URIs debootstrap cannot use', () => {
    apt({
      'sources.list': '',
      'sources.list.d/cloud.list': 'deb https://packages.example/apt cloud-sdk-bookworm main\n',
      'sources.list.d/debian.list': `deb http://contrib.example/debian bookworm contrib
deb cdrom:[Debian GNU/Linux 12]/ bookworm main
deb [trusted=yes] ftp://mirror.example/debian bookworm main`,
    });
    expect(mirror()).toBe('ftp://mirror.example/debian');
  });

  it('reads sources.list before sources.list.d', () => {
    apt({ 'sources.list': 'deb http://list.example/debian bookworm main\n', 'sources.list.d/debian.sources': DEB822 });
    expect(mirror()).toBe('http://list.example/debian');
  });
});

describe('RUNBOX_DEBIAN_MIRROR and the failure', () => {
  it('lets RUNBOX_DEBIAN_MIRROR win over the apt configuration', () => {
    apt({ 'sources.list.d/debian.sources': DEB822 });
    expect(mirror('http://override.example/debian')).toBe('http://override.example/debian');
  });

  it('uses RUNBOX_DEBIAN_MIRROR when apt has no mirror', () => {
    expect(mirror('file:///srv/debian')).toBe('file:///srv/debian');
  });

  it('fails telling the operator to set RUNBOX_DEBIAN_MIRROR when no usable entry exists', () => {
    apt({
      'sources.list': 'deb http://security.example/debian-security bookworm-security main\n',
      'sources.list.d/old.sources': 'Types: deb\nURIs: http://old.example/debian\nSuites: bullseye\nComponents: main\n',
    });
    const { status, stderr } = failure();
    expect(status).toBe(1);
    expect(stderr).toContain('no Debian mirror found for bookworm');
    expect(stderr).toContain('Set RUNBOX_DEBIAN_MIRROR');
  });

  it('fails the same way with an empty RUNBOX_DEBIAN_MIRROR and no apt directory at all', () => {
    rmSync(aptDir, { recursive: true, force: true });
    const { status, stderr } = failure('');
    expect(status).toBe(1);
    expect(stderr).toContain('Set RUNBOX_DEBIAN_MIRROR');
  });
});
