/** Building the sandbox image from images/python/ when it is missing. */
import { join } from 'node:path';
import type { DockerClient } from '../docker/client';
import { IMAGE_DIR } from '../sandbox/image';
import { ensureHostPackage, runVisible } from './host';

export { IMAGE_DIR, sandboxImageTag } from '../sandbox/image';

export async function ensureImage(docker: DockerClient, tag: string, log: (line: string) => void): Promise<void> {
  if (await docker.imageExists(tag)) {
    log(`sandbox image ${tag} present`);
    return;
  }
  log(`sandbox image ${tag} missing: building it from Debian packages (about 3 minutes)`);
  await ensureHostPackage('debootstrap', 'debootstrap', log);
  await runVisible('bash', [join(IMAGE_DIR, 'build.sh'), tag]);
  if (!(await docker.imageExists(tag))) throw new Error(`image build finished but ${tag} is not in the engine`);
}
