// The images of the peer fixtures' "Exact commands" (../shared/fixtures/peers/README.md), as the
// build tests and the build bench make them: the rootfs tar of `tiny` and the three Dockerfiles.
import { chmodSync, copyFileSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import path from 'node:path';

/** The fixture script's rootfs: busybox-static, its applets as symlinks, /etc/passwd and /etc/group, a few dirs. */
export function rootfsTar(work: string, ctx: string): void {
  const root = path.join(work, 'rootfs');
  for (const d of ['bin', 'etc', 'tmp', 'root', 'srv', 'home', 'work']) mkdirSync(path.join(root, d), { recursive: true, mode: 0o755 });
  copyFileSync('/bin/busybox', path.join(root, 'bin', 'busybox'));
  chmodSync(path.join(root, 'bin', 'busybox'), 0o755);
  const applets = spawnSync('/bin/busybox', ['--list'], { encoding: 'utf8' }).stdout.split('\n').filter((a) => a && a !== 'busybox');
  for (const a of applets) symlinkSync('busybox', path.join(root, 'bin', a));
  writeFileSync(path.join(root, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/home/user:/bin/sh\n');
  writeFileSync(path.join(root, 'etc', 'group'), 'root:x:0:\nuser:x:1000:\n');
  chmodSync(path.join(root, 'tmp'), 0o1777);
  chmodSync(path.join(root, 'root'), 0o700);
  const r = spawnSync('tar', ['-C', root, '-cf', path.join(ctx, 'rootfs.tar'), '.']);
  if (r.status !== 0) throw new Error(`tar of the rootfs: ${r.stderr}`);
}

export const TINY = `FROM scratch
ADD rootfs.tar /
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin TINY_GREETING="hello world"
WORKDIR /srv
LABEL org.opencontainers.image.title="tiny" bale.fixture="tiny"
CMD ["/bin/sh","-c","echo hello from tiny"]
`;

const LD = '/data/long/dir-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/dir-bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb';
const LN = 'file-with-a-very-long-name-0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890.txt';
/** FROM is given: the tests name `tiny`, podman and buildah their own localhost/tiny. */
export const LAYERED = (from: string) => `FROM ${from}
RUN mkdir -p /data/empty-dir /data/replace-me/sub /etc/app \\
 && echo alpha > /data/alpha.txt \\
 && ln /data/alpha.txt /data/alpha-hardlink.txt \\
 && ln -s alpha.txt /data/alpha-symlink \\
 && echo doomed > /data/delete-me.txt \\
 && echo old1 > /data/replace-me/old1.txt \\
 && echo old2 > /data/replace-me/sub/old2.txt \\
 && echo key=value > /etc/app/app.conf
RUN mkdir -p ${LD} \\
 && echo long > ${LD}/${LN} \\
 && ln -s ${LD}/${LN} /data/long-symlink \\
 && printf '#!/bin/sh\\necho suid\\n' > /data/suid-tool && chmod 4755 /data/suid-tool \\
 && echo owned > /data/owned-by-1000.txt && chown 1000:1000 /data/owned-by-1000.txt \\
 && mkdir -p /home/user && chown 1000:1000 /home/user
ENV LAYERED_STAGE=3
RUN rm /data/delete-me.txt \\
 && rm -rf /data/replace-me && mkdir /data/replace-me && echo new > /data/replace-me/new.txt
RUN echo key2=value2 >> /etc/app/app.conf
LABEL bale.fixture="layered"
CMD ["/bin/sh","-c","cat /data/alpha.txt"]
`;
export const ALT = (from: string) => `FROM ${from}
RUN echo alt > /alt.txt
CMD ["/bin/cat","/alt.txt"]
`;
