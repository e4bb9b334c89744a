import { extract } from 'tar-stream';
import type { Job } from '../../src/sandbox/job';
import { manifestFor, packJob } from '../../src/sandbox/job-tar';
import { artifactCaps } from '../../src/sandbox/protocol';
import { testConfig } from '../support/config';

async function entriesOf(archive: Buffer): Promise<Record<string, { data: string; uid: number; type: string }>> {
  const found: Record<string, { data: string; uid: number; type: string }> = {};
  const parser = extract();
  parser.on('entry', (header, stream, next) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c) => chunks.push(c as Buffer));
    stream.on('end', () => {
      found[header.name] = { data: Buffer.concat(chunks).toString('latin1'), uid: header.uid, type: header.type ?? '' };
      next();
    });
  });
  const done = new Promise<void>((resolve) => parser.on('finish', () => resolve()));
  parser.end(archive);
  await done;
  return found;
}

describe('packJob', () => {
  const job: Job = {
    dependencies: [],
    files: [
      { path: 'main.py', data: Buffer.from('print(1)') },
      { path: 'data/bytes.bin', data: Buffer.from([0, 1, 255]) },
      { path: `deep/${'n'.repeat(200)}.txt`, data: Buffer.from('long name') },
    ],
    entrypoint: 'main.py',
    args: ['a'],
    stdin: Buffer.from('input'),
    timeoutMs: 1000,
    memoryMb: 128,
  };

  it('writes the manifest, stdin and every file as regular files owned by the sandbox user', async () => {
    const manifest = manifestFor(job, 'MARK', artifactCaps(testConfig().limits));
    const entries = await entriesOf(await packJob(job, manifest));
    expect(Object.keys(entries).sort()).toEqual(
      ['files/data/bytes.bin', 'files/main.py', `files/deep/${'n'.repeat(200)}.txt`, 'job.json', 'stdin'].sort(),
    );
    expect(JSON.parse(entries['job.json'].data)).toEqual(manifest);
    expect(entries.stdin.data).toBe('input');
    expect(entries['files/data/bytes.bin'].data).toBe('\u0000\u0001\u00ff');
    for (const entry of Object.values(entries)) {
      expect(entry.type).toBe('file');
      expect(entry.uid).toBe(10001);
    }
  });
});
