import { clientConfig, ConfigError, dockerHostSetting, loadConfig as load, storeConfig, wheelhouseSetting } from '../../src/config';
import { describeStore } from '../../src/store/open';

const base = { RUNBOX_IMAGE: 'img:1' };
/** With RUNBOX_IMAGE set, the default image is never asked for (the server's hashes images/python/). */
const notAsked = (): string => {
  throw new Error('the default image was asked for although RUNBOX_IMAGE is set');
};
const loadConfig = (env: Record<string, string>) => load(env, notAsked);

describe('loadConfig', () => {
  it('has documented defaults and binds to loopback', () => {
    const config = loadConfig(base);
    expect(config.host).toBe('127.0.0.1');
    expect(config.port).toBe(8080);
    expect(config.limits.defaultTimeoutMs).toBe(10_000);
    expect(config.limits.maxTimeoutMs).toBe(300_000);
    expect(config.limits.defaultMemoryMb).toBe(512);
    expect(config.limits.maxCodeBytes).toBe(256 * 1024);
    expect(config.runtime).toBe('runc');
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.limits)).toBe(true);
  });

  it('reads overrides', () => {
    const config = loadConfig({ ...base, RUNBOX_PIDS_LIMIT: '64', RUNBOX_CPUS: '0.5', PORT: '9000' });
    expect(config.limits.pidsLimit).toBe(64);
    expect(config.limits.cpus).toBe(0.5);
    expect(config.port).toBe(9000);
  });

  it.each([
    [{ RUNBOX_PIDS_LIMIT: 'many' }, /RUNBOX_PIDS_LIMIT="many": expected an integer/],
    [{ RUNBOX_PIDS_LIMIT: '0' }, /RUNBOX_PIDS_LIMIT="0": expected an integer >= 8/],
    [{ RUNBOX_DEFAULT_TIMEOUT_MS: '5000', RUNBOX_MAX_TIMEOUT_MS: '1000' }, /must not exceed RUNBOX_MAX_TIMEOUT_MS/],
    [{ RUNBOX_DATABASE_URL: 'mysql://db/runbox' }, /RUNBOX_DATABASE_URL must be a postgres/],
    [{ RUNBOX_API_KEY: 'short' }, /at least 16 characters/],
    [{ PORT: '70000' }, /expected a TCP port/],
    [{ RUNBOX_PRELOAD: 'numpy,os; rm -rf /' }, /RUNBOX_PRELOAD: "os; rm -rf \/" is not a Python module name/],
    [{ RUNBOX_PRELOAD: 'numpy,--help' }, /is not a Python module name/],
    [{ RUNBOX_PRELOAD_POLICY: 'sometimes' }, /RUNBOX_PRELOAD_POLICY: auto or always/],
  ])('refuses %j', (env, message) => {
    expect(() => loadConfig({ ...base, ...env })).toThrow(ConfigError);
    expect(() => loadConfig({ ...base, ...env })).toThrow(message);
  });

  it('allows a public address once an API key is set', () => {
    expect(loadConfig({ ...base, HOST: '0.0.0.0', RUNBOX_API_KEY: 'k'.repeat(32) }).host).toBe('0.0.0.0');
    // Without RUNBOX_API_KEY, whether another address is allowed depends on stored keys: decided at startup.
    expect(loadConfig({ ...base, HOST: '0.0.0.0' }).host).toBe('0.0.0.0');
  });

  it('preloads numpy, pandas and matplotlib.pyplot by default, chosen per request; an empty list turns it off', () => {
    expect(loadConfig(base)).toMatchObject({ preload: ['numpy', 'pandas', 'matplotlib.pyplot'], preloadPolicy: 'auto' });
    expect(loadConfig({ ...base, RUNBOX_PRELOAD: '' }).preload).toEqual([]);
    expect(loadConfig({ ...base, RUNBOX_PRELOAD: ' scipy.stats , sklearn ' }).preload).toEqual(['scipy.stats', 'sklearn']);
  });

  it('runs the default image only when RUNBOX_IMAGE is not set, and reads no image files itself', () => {
    const defaultImage = jest.fn(() => 'runbox-python:0123456789abcdef');
    expect(load({ ...base, RUNBOX_IMAGE: 'mine:1' }, defaultImage).image).toBe('mine:1');
    expect(defaultImage).not.toHaveBeenCalled();
    expect(load({}, defaultImage).image).toBe('runbox-python:0123456789abcdef');
    expect(load({ RUNBOX_IMAGE: '' }, defaultImage).image).toBe('runbox-python:0123456789abcdef');
    expect(defaultImage).toHaveBeenCalledTimes(2);
  });
});

describe("the commands' own settings, read in config.ts too", () => {
  it('runbox run/mcp: RUNBOX_URL as given, RUNBOX_API_KEY unless empty', () => {
    expect(clientConfig({})).toEqual({ url: undefined, apiKey: undefined });
    expect(clientConfig({ RUNBOX_URL: 'http://h:1', RUNBOX_API_KEY: '' })).toEqual({ url: 'http://h:1', apiKey: undefined });
    expect(clientConfig({ RUNBOX_API_KEY: 'rbx_test_x' }).apiKey).toBe('rbx_test_x');
  });

  it('runbox packages: RUNBOX_WHEELHOUSE as given; provisioning: DOCKER_HOST; empty is unset', () => {
    expect(wheelhouseSetting({ RUNBOX_WHEELHOUSE: 'wheels' })).toBe('wheels');
    expect(wheelhouseSetting({ RUNBOX_WHEELHOUSE: '' })).toBeUndefined();
    expect(dockerHostSetting({ DOCKER_HOST: 'tcp://engine:2375' })).toBe('tcp://engine:2375');
    expect(dockerHostSetting({ DOCKER_HOST: '' })).toBeUndefined();
  });

  it('the store, for the server and runbox keys alike: RUNBOX_DATA_DIR made absolute, else per user, never the current folder', () => {
    expect(storeConfig({ HOME: '/home/ada' })).toEqual({
      dataDir: '/home/ada/.local/share/runbox',
      databaseUrl: undefined,
      dataDirFrom: 'default',
    });
    expect(storeConfig({ HOME: '/home/ada', XDG_DATA_HOME: '/data/ada' }).dataDir).toBe('/data/ada/runbox');
    expect(storeConfig({ HOME: '/home/ada', RUNBOX_DATA_DIR: 'here' })).toMatchObject({
      dataDir: `${process.cwd()}/here`,
      dataDirFrom: 'RUNBOX_DATA_DIR',
    });
    expect(describeStore(storeConfig({ HOME: '/home/ada' }))).toBe(
      "SQLite at /home/ada/.local/share/runbox/runbox.db (this user's default; RUNBOX_DATA_DIR overrides it)",
    );
    expect(storeConfig({ HOME: '/home/ada', XDG_DATA_HOME: 'relative' }).dataDir).toBe('/home/ada/.local/share/runbox');
    expect(() => storeConfig({ HOME: 'relative' })).toThrow(/set RUNBOX_DATA_DIR/);
    // PostgreSQL needs no home folder.
    expect(storeConfig({ HOME: '', RUNBOX_DATABASE_URL: 'postgres://db/runbox' }).databaseUrl).toBe('postgres://db/runbox');
    expect(describeStore(storeConfig({ RUNBOX_DATABASE_URL: 'postgresql://runbox:hunter2@db:5432/runbox?sslpassword=s3cret' }))).toBe(
      'PostgreSQL at postgresql://runbox:***@db:5432/runbox (RUNBOX_DATABASE_URL)',
    );
    // A socket URL pg takes, which new URL() alone would refuse to describe.
    expect(describeStore(storeConfig({ RUNBOX_DATABASE_URL: 'postgres://u:p@/db?host=/run/postgresql' }))).toMatch(
      /^PostgreSQL at postgres:\/\/u:\*\*\*@\/db \(socket \/run\/postgresql\)|^PostgreSQL at \(RUNBOX_DATABASE_URL is not a URL\)/,
    );
  });
});
