// bale inspect: an image's (or container's) details as JSON, in the shape docker inspect prints.
import { Store, type ImageRecord } from '../../store/store.js';
import { findContainer, observedRecord, type ContainerRecord } from '../../runtime/container.js';
import { hostConfig } from '../../runtime/security.js';
import { portKey, type PortSpec } from '../../runtime/ports.js';
import { volumeDataDir } from '../../store/volumes.js';
import { BaleError, UsageError } from '../../util/errors.js';
import { needArgs, parseFlags, wantsHelp } from '../verb.js';
import { printJson } from '../output.js';
import { renderTemplate } from '../template.js';
import type { Help } from '../help.js';

export const help: Help = {
  usage: 'bale inspect [OPTIONS] NAME|ID [NAME|ID...]',
  summary: `Show details of images or containers as a JSON array (docker inspect's fields: Id, RepoTags,
RepoDigests, Created, Config, Architecture, Os, Size, RootFS, History, Descriptor; for a container: State,
Path, Args, Name, Image, HostConfig, Mounts, Config).`,
  operands: 'image',
  options: [
    { flags: '-f, --format', arg: 'T', text: 'Print each object through a template: {{.Config.Cmd}}, {{json .Config}}, {{index .Config.Labels "k"}}' },
    { flags: '--type', arg: 'T', text: 'image or container (default: image, then container)', values: ['image', 'container'] },
    { flags: '-h, --help', text: 'Show this help' },
  ],
};

export async function imageDetails(store: Store, rec: ImageRecord): Promise<Record<string, unknown>> {
  const cfg = await store.config(rec);
  const tags = await store.tagsOf(rec.id);
  return {
    Id: rec.id,
    RepoTags: tags,
    // docker names digests here only for images pulled from or pushed to a registry, never for a
    // loaded, imported or committed one; bale has no registry.
    RepoDigests: [],
    Created: cfg.created ?? '',
    Author: cfg.author ?? '',
    Config: cfg.config ?? {},
    Architecture: cfg.architecture,
    ...(cfg.variant ? { Variant: cfg.variant } : {}),
    Os: cfg.os,
    Size: Store.imageSize(rec),
    RootFS: { Type: 'layers', Layers: rec.diffIds },
    History: cfg.history ?? [],
    Descriptor: rec.manifest,
    Layers: rec.layers,
    Metadata: { Added: rec.added },
  };
}

/** Go's zero time, which docker prints for a container never started or never stopped. */
const ZERO_TIME = '0001-01-01T00:00:00Z';

/** Ports in docker's shape: {"80/tcp": [binding, ...]}. */
function portMap(ports: PortSpec[], binding: (p: PortSpec) => Record<string, string>): Record<string, Record<string, string>[]> {
  const out: Record<string, Record<string, string>[]> = {};
  for (const p of ports) (out[portKey(p)] ??= []).push(binding(p));
  return out;
}

/**
 * A container in docker inspect's shape (the fields bale has): State, Path/Args, Name with its
 * slash, HostConfig with the limits and options, Mounts, Config. Cmd and Entrypoint are not given
 * apart: the record keeps the command line after docker's override rules, as Path and Args.
 */
export function containerDetails(store: Store, rec: ContainerRecord): Record<string, unknown> {
  const s = rec.state;
  const running = s.status === 'running';
  const r = rec.resources ?? {};
  return {
    Id: rec.id,
    Created: rec.created,
    Path: rec.process.args[0] ?? '',
    Args: rec.process.args.slice(1),
    State: {
      Status: running && s.paused ? 'paused' : s.status,
      Running: running,
      Paused: running && !!s.paused,
      Restarting: false,
      OOMKilled: !!s.oomKilled,
      Dead: false,
      Pid: running ? (s.pid ?? 0) : 0,
      ExitCode: s.exitCode ?? 0,
      Error: '',
      StartedAt: s.startedAt ?? ZERO_TIME,
      FinishedAt: s.finishedAt ?? ZERO_TIME,
    },
    Image: rec.image,
    Name: `/${rec.name}`,
    RestartCount: 0,
    Driver: 'overlay',
    Platform: 'linux',
    HostConfig: {
      ...hostConfig(rec.security),
      NetworkMode: rec.net,
      PortBindings: portMap(rec.ports ?? [], (p) => ({ HostIp: p.hostIp, HostPort: p.hostPort ? String(p.hostPort) : '' })),
      AutoRemove: rec.autoRemove,
      ReadonlyRootfs: !!rec.readOnly,
      Memory: r.memory ?? 0,
      MemorySwap: r.memorySwap ?? 0,
      NanoCpus: r.nanoCpus ?? 0,
      PidsLimit: r.pidsLimit ?? null,
    },
    NetworkSettings: {
      Ports: portMap(running ? (s.ports ?? []) : [], (p) => ({ HostIp: p.hostIp || '0.0.0.0', HostPort: String(p.hostPort) })),
      IPAddress: (running && s.address) || '',
    },
    Mounts: (rec.mounts ?? []).map((m) => ({
      Type: m.type,
      ...(m.type === 'volume' ? { Name: m.source, Source: volumeDataDir(store, m.source) } : { Source: m.source }),
      Destination: m.target,
      RW: !m.readOnly,
    })),
    Config: {
      Hostname: rec.hostname,
      Domainname: '',
      User: rec.process.user,
      Tty: rec.process.tty,
      Env: rec.process.env,
      WorkingDir: rec.process.cwd,
      Image: rec.imageRef,
    },
  };
}

export async function run(args: string[]): Promise<number> {
  const p = parseFlags(args, { string: ['format', 'type'], alias: { f: 'format' } }, 'inspect');
  if (wantsHelp(p, help)) return 0;
  needArgs(p, 1, Infinity, 'inspect');
  const type = p['type'] as string | undefined;
  if (type && type !== 'image' && type !== 'container') throw new UsageError(`--type takes image or container`);
  const store = await Store.open();
  const out: unknown[] = [];
  const errors: string[] = [];
  for (const name of p._) {
    try {
      let obj: unknown;
      if (type !== 'container') {
        const rec = await store.tryResolve(name);
        if (rec) obj = await imageDetails(store, rec);
      }
      if (obj === undefined && type !== 'image') {
        try {
          const rec = await findContainer(store, name);
          obj = containerDetails(store, observedRecord(rec));
        } catch {
          obj = undefined;
        }
      }
      if (obj === undefined) throw new BaleError(`No such ${type ?? 'object'}: ${name}`);
      out.push(obj);
    } catch (e) {
      errors.push((e as Error).message);
    }
  }
  const tpl = p['format'] as string | undefined;
  if (tpl && tpl !== 'json') {
    for (const o of out) process.stdout.write(renderTemplate(tpl, o) + '\n');
  } else printJson(out);
  for (const e of errors) process.stderr.write(`bale: ${e}\n`);
  return errors.length ? 1 : 0;
}
