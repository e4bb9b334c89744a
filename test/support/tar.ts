import { packTar, type TarEntry } from '../../src/sandbox/job-tar';

export { packTar as tarOf, type TarEntry };

export const file = (name: string, content: string | Buffer): TarEntry => {
  const data = Buffer.isBuffer(content) ? content : Buffer.from(content);
  return { header: { name, size: data.length, type: 'file' }, data };
};
