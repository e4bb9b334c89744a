import { createHash } from 'node:crypto';
import { ArtifactCollector, type ArtifactCaps } from '../../src/sandbox/artifacts';
import { file, tarOf, type TarEntry } from '../support/tar';

const caps: ArtifactCaps = { maxFiles: 3, maxFileBytes: 100, maxTotalBytes: 150 };

async function collect(archive: Buffer, chunkSize = 97, c: ArtifactCaps = caps) {
  const collector = new ArtifactCollector(c);
  let accepted = true;
  for (let i = 0; i < archive.length && accepted; i += chunkSize) accepted = collector.write(archive.subarray(i, i + chunkSize));
  return { ...(await collector.finish()), accepted };
}

const entries = async (list: TarEntry[]) => collect(await tarOf(list));

const sha256 = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');

describe('ArtifactCollector', () => {
  it('returns regular files under output/ as utf8 or base64', async () => {
    const result = await entries([
      file('output/a.txt', 'hello'),
      file('output/dir/b.bin', Buffer.from([0xff, 0x00, 0xfe])),
      file('summary.json', '{"skipped":0}'),
    ]);
    expect(result.artifacts).toEqual([
      { path: 'a.txt', size: 5, mimeType: 'text/plain', sha256: sha256('hello'), encoding: 'utf8', content: 'hello' },
      {
        path: 'dir/b.bin',
        size: 3,
        mimeType: 'application/octet-stream',
        sha256: sha256(Buffer.from([0xff, 0, 0xfe])),
        encoding: 'base64',
        content: Buffer.from([0xff, 0, 0xfe]).toString('base64'),
      },
    ]);
    expect(result.truncated).toBe(false);
  });

  it('never returns symlinks, hardlinks, FIFOs or devices, and says something was left out', async () => {
    const result = await entries([
      { header: { name: 'output/passwd', type: 'symlink', linkname: '/etc/passwd' } },
      { header: { name: 'output/hard', type: 'link', linkname: 'output/a.txt' } },
      { header: { name: 'output/fifo', type: 'fifo' } },
      { header: { name: 'output/null', type: 'character-device', devmajor: 1, devminor: 3 } },
      { header: { name: 'output/sda', type: 'block-device', devmajor: 8, devminor: 0 } },
      file('output/ok.txt', 'ok'),
    ]);
    expect(result.artifacts.map((a) => a.path)).toEqual(['ok.txt']);
    expect(result.truncated).toBe(true);
  });

  it('drops entries whose names escape or are not artifacts', async () => {
    const result = await entries([
      file('output/../../etc/cron.d/x', 'evil'),
      file('/etc/passwd', 'evil'),
      file('output//abs', 'evil'),
      file('output/a\nb', 'evil'),
      file('elsewhere.txt', 'evil'),
    ]);
    expect(result.artifacts).toEqual([]);
    expect(result.truncated).toBe(true);
  });

  it('leaves out names that display as something else, and names that collide once normalised', async () => {
    const result = await entries([
      file('output/invoice\u202etxt.exe', 'x'),
      file('output/zero\u200bwidth', 'x'),
      file('output/cafe\u0301', 'first'),
      file('output/caf\u00e9', 'second'),
      file('output/plain.txt', 'x'),
    ]);
    expect(result.artifacts.map((a) => [a.path, a.content])).toEqual([
      ['cafe\u0301', 'first'],
      ['plain.txt', 'x'],
    ]);
    expect(result.truncated).toBe(true);
  });

  it('sends valid UTF-8 that escaping would more than double as base64', async () => {
    const result = await entries([file('output/ctrl.bin', Buffer.alloc(40, 1)), file('output/lines.txt', '\n'.repeat(40))]);
    expect(result.artifacts.map((a) => a.encoding)).toEqual(['base64', 'utf8']);
  });

  it('enforces the per-file, total and count caps', async () => {
    const result = await entries([
      file('output/big', 'x'.repeat(101)),
      file('output/1', 'x'.repeat(100)),
      file('output/2', 'x'.repeat(60)),
      file('output/3', 'x'.repeat(10)),
      file('output/4', 'x'.repeat(10)),
      file('output/5', 'x'.repeat(10)),
    ]);
    expect(result.artifacts.map((a) => a.path)).toEqual(['1', '3', '4']);
    expect(result.truncated).toBe(true);
  });

  it('reports what the launcher said it skipped', async () => {
    const result = await entries([file('output/a', 'a'), file('summary.json', '{"skipped":2}')]);
    expect(result.truncated).toBe(true);
  });

  it('stops reading an archive larger than the caps allow', async () => {
    const huge = await tarOf(Array.from({ length: 100 }, (_, i) => file(`output/f${i}`, 'x'.repeat(100))));
    const result = await collect(huge, 512);
    expect(result.accepted).toBe(false);
    expect(result.truncated).toBe(true);
    expect(result.artifacts.length).toBeLessThanOrEqual(caps.maxFiles);
  });

  it('survives an archive cut off mid-entry', async () => {
    const archive = await tarOf([file('output/a', 'a'), file('output/b', 'x'.repeat(90))]);
    const result = await collect(archive.subarray(0, 700));
    expect(result.artifacts.map((a) => a.path)).toEqual(['a']);
    expect(result.truncated).toBe(true);
  });

  it('survives garbage instead of an archive', async () => {
    const result = await collect(Buffer.from('not a tar archive at all '.repeat(40)));
    expect(result.artifacts).toEqual([]);
    expect(result.truncated).toBe(true);
  });

  it('does not buffer a declared-huge entry', async () => {
    // A header declaring ~8 GiB followed by far less data, built by hand as a hostile launcher could.
    const fake = Buffer.alloc(512);
    fake.write('output/sparse', 0);
    fake.write('0000644\0', 100);
    fake.write('77777777777\0', 124);
    fake.write('0', 156);
    fake.write('ustar\u000000', 257);
    let sum = 0;
    fake.fill(' ', 148, 156);
    for (const b of fake) sum += b;
    fake.write(sum.toString(8).padStart(6, '0') + '\0 ', 148);
    const result = await collect(Buffer.concat([fake, Buffer.alloc(64 * 1024, 0x41)]), 4096);
    expect(result.artifacts).toEqual([]);
    expect(result.truncated).toBe(true);
  });
});
