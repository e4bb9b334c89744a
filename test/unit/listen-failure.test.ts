import { listenFailure } from '../../src/cli/listen-failure';

const failed = (code: string) => Object.assign(new Error(`listen ${code}`), { code, syscall: 'listen' });

describe('listenFailure', () => {
  it('a port in use: the address, and PORT to change', () => {
    expect(listenFailure(failed('EADDRINUSE'), '127.0.0.1', 8080)).toBe(
      '127.0.0.1:8080 is in use by another process; set PORT to another port (or stop that process)',
    );
    expect(listenFailure(failed('EADDRINUSE'), '::1', 8080)).toMatch(/^\[::1\]:8080 is in use/);
  });

  it('an address not of this machine: HOST to change', () => {
    expect(listenFailure(failed('EADDRNOTAVAIL'), '10.9.9.9', 8080)).toBe(
      '10.9.9.9:8080: 10.9.9.9 is not an address of this machine; set HOST to one of its addresses (e.g. 127.0.0.1)',
    );
  });

  it('a privileged port: PORT to change', () => {
    expect(listenFailure(failed('EACCES'), '127.0.0.1', 80)).toBe(
      '127.0.0.1:80: a port below 1024 needs privileges this process does not have; set PORT to 1024 or above',
    );
  });

  it('anything else is not a listen failure of the settings', () => {
    expect(listenFailure(new Error('RUNBOX_INSTANCE_ID is held'), '127.0.0.1', 8080)).toBeUndefined();
    expect(listenFailure(undefined, '127.0.0.1', 8080)).toBeUndefined();
  });
});
