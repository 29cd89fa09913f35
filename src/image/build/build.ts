// bale build: a Dockerfile's instructions, one after another, each turning the state built so far
// (config + layers) into the next, as docker's classic builder does: one history entry per
// instruction, `empty_layer` for those that only change the config, `created_by` in docker's
// `/bin/sh -c #(nop) …` form. Every step goes through the cache (cache.ts) first.
import { promises as fsp, readFileSync } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { packEntries } from '../../layer/pack.js';
import { walkDir } from '../../layer/tree.js';
import { sha256 } from '../../oci/digest.js';
import type { HistoryEntry, ImageConfig, RunConfig } from '../../oci/types.js';
import { DEFAULT_PATH } from '../../runtime/spec.js';
import { unpackLayers } from '../../store/layers.js';
import type { ImageRecord, Store } from '../../store/store.js';
import { BaleError, oneLine } from '../../util/errors.js';
import { applyInstruction, ChangeError, shellWords } from '../change.js';
import { createImage, hostArchitecture, ociLayers, writeLayer, type StoredLayer } from '../create.js';
import { cacheGet, cachePut, stepKey, type BuildState } from './cache.js';
import { contextTree, hashSource, layersTree, resolveInTree, type Tree } from './context.js';
import { findSources, resolveOwner, stageCopy, stageDir, type CopySource } from './copy.js';
import { cacheMount, dirMount, layersWithDir, parseRunMount, type RunMount } from './mounts.js';
import { DockerfileError, parseDockerfile, parseInstruction, type Heredoc, type Instruction } from './parse.js';
import { runStep } from './run.js';
import type { MountSpec } from '../../runtime/mounts.js';

export interface BuildOptions {
  contextDir: string;
  /** The Dockerfile's text and the name errors give it. */
  dockerfile: { text: string; name: string };
  tags: string[];
  /** --build-arg values (already resolved from the host environment where only K was given). */
  buildArgs: Map<string, string>;
  /** --label K=V: LABEL steps after the last instruction, one per label, keys sorted (docker's classic builder). */
  labels?: string[];
  target?: string;
  noCache: boolean;
  net: 'none' | 'host';
  /** SOURCE_DATE_EPOCH: every timestamp, and file times in new layers clamped to it. */
  epoch?: number;
  /** Step lines (docker's "Step 1/5 : …"); RUN output goes to `runOutput`. */
  log: (line: string) => void;
  runOutput: 'inherit' | number;
}

/** Build arguments docker knows without an ARG line; they stay out of history. */
const PREDEFINED_ARGS = ['HTTP_PROXY', 'http_proxy', 'HTTPS_PROXY', 'https_proxy', 'FTP_PROXY', 'ftp_proxy', 'NO_PROXY', 'no_proxy', 'ALL_PROXY', 'all_proxy'];

/** $VAR, ${VAR}, ${VAR:-default}, ${VAR:+alt} expanded in one word, nothing split (exec-form arguments). */
function expandOnly(word: string, env: string[]): string {
  const get = (k: string): string => {
    for (let i = env.length - 1; i >= 0; i--) if (env[i]!.startsWith(`${k}=`)) return env[i]!.slice(k.length + 1);
    return '';
  };
  return word.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?::([-+])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)/g, (_m, a: string, op: string, alt: string, b: string) => {
    const v = get(a ?? b);
    if (op === '-') return v !== '' ? v : alt;
    if (op === '+') return v !== '' ? alt : '';
    return v;
  });
}

/** A COPY here-document's body with $VAR expanded (`\\$` keeps a `$`), unless its word was quoted. */
function heredocBody(h: Heredoc, env: string[]): string {
  if (!h.expand) return h.content;
  return h.content.split('\\$').map((part) => expandOnly(part, env)).join('$');
}

/** The shell docker names in a `#(nop)` history line: the stage's SHELL, else /bin/sh -c. */
function shellOf(run: RunConfig): string {
  return (run.Shell && run.Shell.length ? run.Shell : ['/bin/sh', '-c']).join(' ');
}

/** Docker's %q of a string list: ["a" "b"]. */
function goQuoteList(v: string[]): string {
  return `[${v.map((s) => JSON.stringify(s)).join(' ')}]`;
}

interface Stage {
  name?: string;
  state: BuildState;
  /** ARGs declared in this stage: name → value (undefined = declared without a value). */
  args: Map<string, string | undefined>;
  cmdSet: boolean;
}

class Builder {
  private readonly file: string;
  private readonly context: Tree;
  private readonly stages: Stage[] = [];
  private readonly globalArgs = new Map<string, string | undefined>();
  private readonly usedArgs = new Set<string>();
  private step = 0;
  private totalSteps = 0;

  constructor(private readonly store: Store, private readonly o: BuildOptions) {
    this.file = o.dockerfile.name;
    this.context = contextTree(path.resolve(o.contextDir));
  }

  private now(): string {
    return new Date(this.o.epoch !== undefined ? this.o.epoch * 1000 : Date.now()).toISOString();
  }

  private fail(ins: Instruction, why: string): DockerfileError {
    return new DockerfileError(this.file, ins.line, why);
  }

  /** The value of a declared ARG: --build-arg, else its default. */
  private argValue(name: string, dflt: string | undefined): string | undefined {
    if (this.o.buildArgs.has(name)) {
      this.usedArgs.add(name);
      return this.o.buildArgs.get(name);
    }
    return dflt;
  }

  /** ARGs in scope with a value, as K=V (ENV of the same name wins, so those are left out). */
  private argEnv(stage: Stage): string[] {
    const env = stage.state.config.config?.Env ?? [];
    const names = new Set(env.map((e) => e.split('=')[0]));
    const out: string[] = [];
    for (const [k, v] of stage.args) if (v !== undefined && !names.has(k)) out.push(`${k}=${v}`);
    for (const k of PREDEFINED_ARGS) {
      if (!stage.args.has(k) && this.o.buildArgs.has(k) && !names.has(k)) {
        this.usedArgs.add(k);
        out.push(`${k}=${this.o.buildArgs.get(k)}`);
      }
    }
    return out;
  }

  /** What $VAR expands from in an instruction: the ARGs, then the Env (which wins). */
  private expandEnv(stage: Stage): string[] {
    return [...[...stage.args].filter(([, v]) => v !== undefined).map(([k, v]) => `${k}=${v}`), ...(stage.state.config.config?.Env ?? [])];
  }

  private words(ins: Instruction, text: string, env: string[]): string[] {
    try {
      return shellWords(text, env, text);
    } catch (e) {
      if (e instanceof ChangeError) throw this.fail(ins, e.why);
      throw e;
    }
  }

  // ---- states and layers ------------------------------------------------------------------

  private scratch(): BuildState {
    return { config: { architecture: hostArchitecture(), os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: [] }, history: [] }, layers: [] };
  }

  private async fromImage(rec: ImageRecord): Promise<BuildState> {
    const cfg = await this.store.config(rec);
    const config: ImageConfig = { ...cfg, config: { ...(cfg.config ?? {}) }, history: [...(cfg.history ?? [])] };
    for (const k of ['container', 'container_config', 'docker_version', 'id', 'parent']) delete config[k];
    const layers = ociLayers(rec);
    // docker's rule: history names every layer; an image without history gets placeholders
    const missing = layers.length - config.history!.filter((h) => !h.empty_layer).length;
    for (let i = 0; i < missing; i++) config.history!.unshift({ comment: 'history not recorded in the image' });
    return { config, layers };
  }

  /** The state's layers unpacked in the store, top first. */
  private async diffs(s: BuildState): Promise<string[]> {
    if (s.layers.length === 0) return [];
    const rec = { id: 'sha256:build', layers: s.layers.map((l) => l.descriptor), diffIds: s.layers.map((l) => l.diffId) } as unknown as ImageRecord;
    return [...(await unpackLayers(this.store, rec))].reverse();
  }

  /** The state's filesystem (its layers merged by overlay's rules). */
  private async tree(s: BuildState): Promise<Tree> {
    return layersTree(await this.diffs(s));
  }

  /** A staging directory packed into a layer blob. */
  private async layerOf(dir: string): Promise<StoredLayer> {
    const tar = Readable.from(packEntries(walkDir(dir), { clampMtime: this.o.epoch }), { objectMode: false, highWaterMark: 1024 * 1024 });
    return writeLayer(this.store, tar);
  }

  private async withStaging<T>(fn: (dir: string) => Promise<T>): Promise<T> {
    const dir = this.store.tmpPath('build');
    await fsp.mkdir(dir, { mode: 0o755 });
    try {
      return await fn(dir);
    } finally {
      await fsp.rm(dir, { recursive: true, force: true });
    }
  }

  /** The next state: `config` changed, `layer` (if any) on top, one history entry. */
  private next(s: BuildState, run: RunConfig, createdBy: string, layer?: StoredLayer): BuildState {
    const created = this.now();
    const h: HistoryEntry = { created, created_by: createdBy };
    if (!layer) h.empty_layer = true;
    const layers = layer ? [...s.layers, layer] : s.layers;
    return {
      config: { ...s.config, created, config: run, rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) }, history: [...(s.config.history ?? []), h] },
      layers,
    };
  }

  /** Run a step through the cache: `make` only when the key is not there (or --no-cache). */
  private async cached(stage: Stage, key: unknown, make: () => Promise<BuildState>): Promise<void> {
    const k = stepKey(stage.state, key);
    if (!this.o.noCache) {
      const hit = await cacheGet(this.store, k);
      if (hit) {
        this.o.log(' ---> Using cache');
        stage.state = hit;
        return;
      }
    }
    stage.state = await make();
    await cachePut(this.store, k, stage.state);
  }

  // ---- instructions -------------------------------------------------------------------------

  private async from(ins: Instruction): Promise<Stage> {
    const env = [...this.globalArgs].filter(([, v]) => v !== undefined).map(([k, v]) => `${k}=${v}`);
    const w = this.words(ins, ins.args, env);
    if (!(w.length === 1 || (w.length === 3 && w[1]!.toLowerCase() === 'as'))) throw this.fail(ins, 'FROM wants IMAGE [AS NAME]');
    for (const f of ins.flags.keys()) if (f !== 'platform') throw this.fail(ins, `unknown flag --${f} for FROM`);
    const ref = w[0]!;
    const name = w[2]?.toLowerCase();
    if (name !== undefined && !/^[a-z][a-z0-9-_.]*$/.test(name)) throw this.fail(ins, `invalid stage name ${JSON.stringify(w[2])}`);
    if (name !== undefined && this.stages.some((s) => s.name === name)) throw this.fail(ins, `duplicate stage name ${JSON.stringify(name)}`);
    let state: BuildState;
    const earlier = this.stages.find((s) => s.name !== undefined && s.name === ref.toLowerCase());
    if (earlier) state = structuredClone(earlier.state);
    else if (ref === 'scratch') state = this.scratch();
    else {
      const rec = await this.store.tryResolve(ref).catch(() => undefined);
      if (!rec) throw this.fail(ins, `FROM ${ref}: no such image in the store (bale builds offline: load it first with 'bale load')`);
      state = await this.fromImage(rec);
    }
    const run = { ...(state.config.config ?? {}) };
    delete run['Image']; // the parent's parent: docker records intermediate ids bale does not make
    // docker gives every stage a PATH
    if (!(run.Env ?? []).some((e) => e.startsWith('PATH='))) run.Env = [...(run.Env ?? []), DEFAULT_PATH];
    const triggers = run.OnBuild ?? [];
    run.OnBuild = null;
    state.config = { ...state.config, config: run };
    const stage: Stage = { name, state, args: new Map(), cmdSet: false };
    for (const t of triggers) {
      let trig: Instruction;
      try {
        trig = parseInstruction(t, ins.line, this.file);
      } catch (e) {
        throw this.fail(ins, `ONBUILD trigger ${JSON.stringify(t)}: ${(e as Error).message}`);
      }
      this.o.log(` ---> Running ONBUILD ${t}`);
      await this.dispatch(stage, trig);
    }
    return stage;
  }

  private async arg(stage: Stage, ins: Instruction): Promise<void> {
    const env = this.expandEnv(stage);
    const parts: string[] = [];
    const words = this.words(ins, ins.args, env);
    if (words.length === 0) throw this.fail(ins, 'ARG needs a name');
    for (const w of words) {
      const eq = w.indexOf('=');
      const k = eq < 0 ? w : w.slice(0, eq);
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) throw this.fail(ins, `invalid ARG name ${JSON.stringify(k)}`);
      // inside a stage, an ARG without a default takes the global one of the same name
      const dflt = eq < 0 ? (this.globalArgs.has(k) ? this.globalArgs.get(k) : undefined) : w.slice(eq + 1);
      stage.args.set(k, this.argValue(k, dflt));
      parts.push(eq < 0 ? k : `${k}=${w.slice(eq + 1)}`);
    }
    const run = stage.state.config.config ?? {};
    await this.cached(stage, ['ARG', parts, [...stage.args]], async () => this.next(stage.state, run, `${shellOf(run)} #(nop)  ARG ${parts.join(' ')}`));
  }

  /** ENV, LABEL, CMD, ENTRYPOINT, EXPOSE, VOLUME, USER, STOPSIGNAL, HEALTHCHECK, ONBUILD, SHELL, MAINTAINER. */
  private async configStep(stage: Stage, ins: Instruction): Promise<void> {
    const run: RunConfig = structuredClone(stage.state.config.config ?? {});
    const env = this.expandEnv(stage);
    let createdBy: string;
    let author: string | undefined;
    try {
      switch (ins.name) {
        case 'SHELL':
          if (!ins.json || ins.json.length === 0) throw this.fail(ins, 'SHELL wants the exec form: SHELL ["executable", "parameters"]');
          run.Shell = ins.json;
          createdBy = `SHELL [${ins.json.join(' ')}]`;
          break;
        case 'MAINTAINER':
          author = ins.args;
          createdBy = `MAINTAINER ${ins.args}`;
          break;
        default:
          applyInstruction(run, ins.name, ins.args, ins.args, { expandEnv: env, cmdSet: stage.cmdSet });
          createdBy = this.describe(ins, run, stage);
      }
    } catch (e) {
      if (e instanceof ChangeError) throw this.fail(ins, e.why);
      throw e;
    }
    if (ins.name === 'CMD') stage.cmdSet = true;
    await this.cached(stage, [ins.name, ins.args, env], async () => {
      const s = this.next(stage.state, run, `${shellOf(run)} #(nop)  ${createdBy}`);
      if (author !== undefined) s.config.author = author;
      return s;
    });
  }

  /** The text docker's classic builder records for a config-only instruction. */
  private describe(ins: Instruction, run: RunConfig, stage: Stage): string {
    const env = this.expandEnv(stage);
    switch (ins.name) {
      case 'ENV':
      case 'LABEL': {
        const w = this.words(ins, ins.args, env);
        if (w.length > 0 && !w[0]!.includes('=')) {
          const m = /^\S+\s+([\s\S]*)$/.exec(ins.args.trim());
          return `${ins.name} ${w[0]}=${m ? this.words(ins, m[1]!, env).join(' ') : ''}`;
        }
        return `${ins.name} ${w.join(' ')}`;
      }
      case 'CMD':
        return `CMD ${goQuoteList(run.Cmd ?? [])}`;
      case 'ENTRYPOINT':
        return `ENTRYPOINT ${goQuoteList(run.Entrypoint ?? [])}`;
      case 'EXPOSE':
        return `EXPOSE ${Object.keys(run.ExposedPorts ?? {}).sort().join(' ')}`;
      case 'VOLUME':
        return `VOLUME [${(ins.json ?? this.words(ins, ins.args, env)).join(' ')}]`;
      case 'USER':
        return `USER ${run.User}`;
      case 'STOPSIGNAL':
        return `STOPSIGNAL ${run.StopSignal}`;
      case 'HEALTHCHECK':
        return `HEALTHCHECK ${JSON.stringify(run.Healthcheck)}`;
      case 'ONBUILD':
        return `ONBUILD ${ins.args}`;
      default:
        return `${ins.name} ${ins.args}`;
    }
  }

  private async workdir(stage: Stage, ins: Instruction): Promise<void> {
    const run: RunConfig = structuredClone(stage.state.config.config ?? {});
    try {
      applyInstruction(run, 'WORKDIR', ins.args, ins.args, { expandEnv: this.expandEnv(stage) });
    } catch (e) {
      if (e instanceof ChangeError) throw this.fail(ins, e.why);
      throw e;
    }
    const dir = run.WorkingDir!;
    await this.cached(stage, ['WORKDIR', dir], async () => {
      const tree = await this.tree(stage.state);
      const at = await resolveInTree(tree, dir.replace(/^\/+/, ''));
      // docker makes the directory (owned by root) when the image lacks it: a layer with it
      let layer: StoredLayer | undefined;
      if (!at.found) {
        layer = await this.withStaging(async (staging) => {
          await stageDir(tree, `/${at.rel}`, staging);
          return this.layerOf(staging);
        });
      }
      return this.next(stage.state, run, `${shellOf(run)} #(nop) WORKDIR ${dir}`, layer);
    });
  }

  /** What COPY --from and RUN --mount from= name: an earlier stage (by name or index) or an image in the store. */
  private async fromState(ins: Instruction, from: string): Promise<{ state: BuildState; fromKey: string }> {
    const src = (/^\d+$/.test(from) ? this.stages[Number(from)] : undefined) ?? this.stages.find((s) => s.name !== undefined && s.name === from.toLowerCase());
    if (src) return { state: src.state, fromKey: src.state.layers.map((l) => l.diffId).join(',') };
    const rec = await this.store.tryResolve(from).catch(() => undefined);
    if (!rec) throw this.fail(ins, `${ins.name} ${ins.name === 'RUN' ? '--mount from' : '--from'}=${from}: no stage of that name and no such image in the store`);
    return { state: await this.fromImage(rec), fromKey: rec.id };
  }

  private async copy(stage: Stage, ins: Instruction): Promise<void> {
    const isAdd = ins.name === 'ADD';
    for (const f of ins.flags.keys()) {
      if (!['chown', 'chmod', ...(isAdd ? [] : ['from'])].includes(f)) throw this.fail(ins, `${ins.name} --${f} is not supported`);
    }
    const env = this.expandEnv(stage);
    const words = ins.json ? ins.json.map((w) => expandOnly(w, env)) : this.words(ins, ins.args, env);
    if (words.length < 2) throw this.fail(ins, `${ins.name} wants at least one source and a destination`);
    const destWord = words[words.length - 1]!;
    const run = stage.state.config.config ?? {};
    const dest = destWord.startsWith('/') ? destWord : path.posix.join(run.WorkingDir || '/', destWord) + (destWord.endsWith('/') || destWord === '.' ? '/' : '');
    let chmod: number | undefined;
    const chmodFlag = ins.flags.get('chmod');
    if (chmodFlag !== undefined) {
      if (!/^[0-7]{3,4}$/.test(chmodFlag)) throw this.fail(ins, `--chmod=${chmodFlag}: wants an octal mode such as 0644`);
      chmod = parseInt(chmodFlag, 8);
    }
    for (const raw of words.slice(0, -1)) {
      if (/^[a-z][a-z0-9+.-]*:\/\//i.test(raw) || raw.startsWith('git@')) {
        if (isAdd) throw this.fail(ins, `ADD ${raw}: bale builds offline and cannot download; fetch it on a connected host, carry it over and ADD it from the build context`);
        throw this.fail(ins, `COPY ${raw}: COPY takes files from the build context, not URLs`);
      }
    }
    const from = ins.flags.get('from');
    let tree: Tree = this.context;
    let fromKey = 'context';
    if (from !== undefined) {
      const f = await this.fromState(ins, from);
      tree = await this.tree(f.state);
      fromKey = f.fromKey;
    }
    const where = from !== undefined ? `the stage or image ${from}` : 'the build context (or excluded by .dockerignore)';
    // here-documents are files of their own, named by their word, in a directory of their own
    const heredocs = ins.heredocs ?? [];
    const hdDir = heredocs.length ? await this.heredocFiles(ins, heredocs, env) : undefined;
    try {
      await this.copySources(stage, ins, { words, dest, chmod, tree, fromKey, where, hdDir, isAdd, env, run });
    } finally {
      if (hdDir) await fsp.rm(hdDir, { recursive: true, force: true });
    }
  }

  /** COPY <<NAME: the bodies as files NAME (0644) in a new directory under the store's tmp. */
  private async heredocFiles(ins: Instruction, heredocs: Heredoc[], env: string[]): Promise<string> {
    const dir = this.store.tmpPath('heredoc');
    await fsp.mkdir(dir, { mode: 0o700 });
    const when = new Date(this.o.epoch !== undefined ? this.o.epoch * 1000 : Date.now());
    for (const h of heredocs) {
      if (h.name.includes('/') || h.name === '.' || h.name === '..') throw this.fail(ins, `here-document name ${JSON.stringify(h.name)} cannot name a file`);
      const f = path.join(dir, h.name);
      await fsp.writeFile(f, heredocBody(h, env), { mode: 0o644 });
      await fsp.chmod(f, 0o644);
      await fsp.utimes(f, when, when);
    }
    return dir;
  }

  private async copySources(stage: Stage, ins: Instruction, c: { words: string[]; dest: string; chmod?: number; tree: Tree; fromKey: string; where: string; hdDir?: string; isAdd: boolean; env: string[]; run: RunConfig }): Promise<void> {
    const { words, dest, chmod, fromKey, isAdd, env, run } = c;
    const sources: CopySource[] = [];
    const hashes: string[] = [];
    let nthHeredoc = 0;
    for (const w of words.slice(0, -1)) {
      const h = /^<<-?(.+)$/.exec(w);
      const hd = h && ins.heredocs?.[nthHeredoc]?.name === h[1] ? ins.heredocs[nthHeredoc++] : undefined;
      const found = await (hd ? findSources(layersTree([c.hdDir!]), [hd.name], 'the here-documents') : findSources(c.tree, [w], c.where)).catch((e: Error) => {
        throw this.fail(ins, `${ins.name} ${e.message}`);
      });
      sources.push(...found.sources);
      hashes.push(...found.hashes.map((x) => (hd ? `<<${x}` : x)));
    }
    if (sources.length > 1 && !dest.endsWith('/')) throw this.fail(ins, `When using ${ins.name} with more than one source file, the destination must be a directory and end with a /`);
    const kind = sources.length > 1 ? 'multi' : sources[0]!.found.st.isDirectory() ? 'dir' : 'file';
    const contentHash = sha256(hashes.join('\n')).slice(7);
    const createdBy = `${shellOf(run)} #(nop) ${ins.name} ${kind}:${contentHash} in ${dest} `;
    const flags = [...ins.flags].filter(([k]) => k !== 'from');
    await this.cached(stage, [ins.name, fromKey, flags, hashes, dest], async () => {
      const image = await this.tree(stage.state);
      let owner = { uid: 0, gid: 0 };
      const chown = ins.flags.get('chown');
      if (chown !== undefined) {
        try {
          owner = await resolveOwner(image, this.words(ins, chown, env).join(' '));
        } catch (e) {
          throw this.fail(ins, (e as Error).message);
        }
      }
      const layer = await this.withStaging(async (staging) => {
        try {
          await stageCopy({ image, sources, dest, owner, chmod, extract: isAdd }, staging);
        } catch (e) {
          throw this.fail(ins, (e as Error).message);
        }
        return this.layerOf(staging);
      });
      return this.next(stage.state, run, createdBy, layer);
    });
  }

  /**
   * RUN's command line. With here-documents, as BuildKit runs them: a lone `<<WORD` runs its body
   * with the shell (or, when the body starts with `#!`, as a script mounted at /dev/pipes/WORD);
   * otherwise the shell gets the line and the bodies, each closed by its word, as a shell script.
   */
  private runArgv(ins: Instruction, shell: string[]): { argv: string[]; script?: Heredoc } {
    const hd = ins.heredocs;
    if (ins.json) return { argv: ins.json };
    if (!hd?.length) return { argv: [...shell, ins.args] };
    if (hd.length === 1 && ins.args.trim() === hd[0]!.token) {
      if (hd[0]!.content.startsWith('#!')) {
        if (hd[0]!.name.includes('/')) throw this.fail(ins, `here-document name ${JSON.stringify(hd[0]!.name)} cannot name a file`);
        return { argv: [...shell, `/dev/pipes/${hd[0]!.name}`], script: hd[0]! };
      }
      return { argv: [...shell, hd[0]!.content] };
    }
    return { argv: [...shell, ins.args + hd.map((h) => `\n${h.content}${h.name}`).join('')] };
  }

  /** RUN's --mount and --network flags. */
  private runFlags(ins: Instruction, workdir: string): { mounts: RunMount[]; net?: 'none' | 'host' } {
    const mounts: RunMount[] = [];
    let net: 'none' | 'host' | undefined;
    for (const [f, v] of ins.flagList) {
      if (f === 'mount') {
        try {
          mounts.push(parseRunMount(v, workdir));
        } catch (e) {
          throw this.fail(ins, `RUN --mount=${v}: ${(e as Error).message}`);
        }
      } else if (f === 'network') {
        if (v === 'none' || v === 'host') net = v;
        else if (v !== 'default') throw this.fail(ins, `RUN --network=${v}: wants default, none or host`);
      } else throw this.fail(ins, `RUN --${f} is not supported`);
    }
    const targets = mounts.map((m) => m.target);
    const dup = targets.find((t, k) => targets.indexOf(t) !== k);
    if (dup) throw this.fail(ins, `RUN --mount: two mounts on ${dup}`);
    return { mounts, net };
  }

  /** What a mount adds to the step's cache key: what a bind shows (not a cache's or tmpfs's content). */
  private async mountKey(ins: Instruction, m: RunMount): Promise<unknown> {
    if (m.type !== 'bind') return [m.type, m.target, m.id, m.mode, m.uid, m.gid, m.size, m.readOnly];
    const rel = path.posix.normalize(m.source || '.').replace(/^\/+/, '').replace(/\/+$/, '');
    if (m.from !== undefined) {
      const f = await this.fromState(ins, m.from);
      return ['bind', m.target, f.fromKey, rel, m.readOnly];
    }
    if (rel === '..' || rel.startsWith('../')) throw this.fail(ins, `RUN --mount source=${m.source}: outside the build context`);
    const r = await resolveInTree(this.context, rel === '.' ? '' : rel);
    if (!r.found) throw this.fail(ins, `RUN --mount source=${m.source}: no such file in the build context`);
    return ['bind', m.target, 'context', r.rel, m.readOnly, await hashSource(this.context, r.rel, r.found)];
  }

  /** A RUN --mount as the launcher mounts it; scratch directories it needs are made with `scratch`. */
  private async mountSpec(ins: Instruction, m: RunMount, scratch: () => Promise<string>): Promise<MountSpec> {
    if (m.type === 'cache') return cacheMount(this.store, m);
    if (m.type === 'tmpfs') return { type: 'tmpfs', source: '', target: m.target, readOnly: false, tmpfsFlags: ['exec'], ...(m.size ? { tmpfsSize: m.size } : {}) };
    const rel0 = path.posix.normalize(m.source || '.').replace(/^\/+/, '').replace(/\/+$/, '');
    const rel = rel0 === '.' ? '' : rel0;
    let diffs: string[];
    let tree: Tree;
    if (m.from !== undefined) {
      diffs = await this.diffs((await this.fromState(ins, m.from)).state);
      tree = layersTree(diffs);
    } else {
      diffs = [path.resolve(this.o.contextDir)];
      tree = this.context;
    }
    const r = await resolveInTree(tree, rel);
    if (!r.found && !(rel === '' && diffs.length === 0)) throw this.fail(ins, `RUN --mount source=${m.source}: no such file in ${m.from ?? 'the build context'}`);
    if (r.found && !r.found.st.isDirectory()) {
      if (m.readOnly) return { type: 'bind', source: r.found.abs, target: m.target, readOnly: true };
      const copy = path.join(await scratch(), path.basename(r.rel));
      await fsp.copyFile(r.found.abs, copy);
      return { type: 'bind', source: copy, target: m.target, readOnly: false };
    }
    let lower = m.from !== undefined ? await layersWithDir(diffs, r.rel) : [r.found!.abs];
    if (lower.length === 0) {
      const empty = await scratch();
      lower = [empty];
    }
    return dirMount(lower, m, scratch);
  }

  private async run(stage: Stage, ins: Instruction): Promise<void> {
    const cfg = stage.state.config.config ?? {};
    const flags = this.runFlags(ins, cfg.WorkingDir || '/');
    const shell = cfg.Shell && cfg.Shell.length ? cfg.Shell : ['/bin/sh', '-c'];
    const { argv, script } = this.runArgv(ins, shell);
    if (argv.length === 0) throw this.fail(ins, 'RUN needs a command');
    const argEnv = this.argEnv(stage).sort();
    const shown = argEnv.filter((kv) => !PREDEFINED_ARGS.includes(kv.split('=')[0]!) || stage.args.has(kv.split('=')[0]!));
    const createdBy = [...(shown.length ? [`|${shown.length}`, ...shown] : []), ...argv].join(' ');
    // what a plain RUN's key has been all along; flags and a script add to it
    const extra: unknown[] = [];
    if (flags.net) extra.push(['network', flags.net]);
    if (script) extra.push(['script', script.content]);
    for (const m of flags.mounts) extra.push(await this.mountKey(ins, m));
    await this.cached(stage, ['RUN', argv, argEnv, ...(extra.length ? [extra] : [])], async () => {
      const scratchDirs: string[] = [];
      const scratch = async (): Promise<string> => {
        const d = this.store.tmpPath('run-mount');
        await fsp.mkdir(d, { mode: 0o755 });
        scratchDirs.push(d);
        return d;
      };
      try {
        const mounts: MountSpec[] = [];
        for (const m of flags.mounts) mounts.push(await this.mountSpec(ins, m, scratch));
        if (script) {
          const d = await scratch();
          await fsp.writeFile(path.join(d, script.name), script.content, { mode: 0o755 });
          await fsp.chmod(path.join(d, script.name), 0o755);
          mounts.push({ type: 'bind', source: d, target: '/dev/pipes', readOnly: true });
        }
        const tree = mounts.length ? await this.tree(stage.state) : undefined;
        const r = await runStep(this.store, stage.state, {
          argv,
          argEnv,
          net: flags.net ?? this.o.net,
          output: this.o.runOutput,
          clampMtime: this.o.epoch,
          onContainer: (id) => this.o.log(` ---> Running in ${id}`),
          mounts,
          inImage: async (abs) => {
            const f = await tree!.lookup(abs.replace(/^\/+/, ''));
            return f && { mode: Number(f.st.mode), uid: Number(f.st.uid), gid: Number(f.st.gid) };
          },
        });
        if (r.code !== 0) throw this.fail(ins, `The command '${argv.join(' ')}' returned a non-zero code: ${r.code}`);
        return this.next(stage.state, cfg, createdBy, r.layer);
      } finally {
        for (const d of scratchDirs) await fsp.rm(d, { recursive: true, force: true });
      }
    });
  }

  async dispatch(stage: Stage, ins: Instruction): Promise<void> {
    switch (ins.name) {
      case 'ARG':
        return this.arg(stage, ins);
      case 'RUN':
        return this.run(stage, ins);
      case 'COPY':
      case 'ADD':
        return this.copy(stage, ins);
      case 'WORKDIR':
        return this.workdir(stage, ins);
      case 'FROM':
        throw this.fail(ins, 'FROM inside a stage');
      default:
        return this.configStep(stage, ins);
    }
  }

  // ---- the whole file ---------------------------------------------------------------------

  async build(): Promise<ImageRecord> {
    const df = parseDockerfile(this.o.dockerfile.text, this.file);
    const ins = df.instructions;
    let i = 0;
    for (; i < ins.length && ins[i]!.name === 'ARG'; i++) {
      const env = [...this.globalArgs].filter(([, v]) => v !== undefined).map(([k, v]) => `${k}=${v}`);
      for (const w of this.words(ins[i]!, ins[i]!.args, env)) {
        const eq = w.indexOf('=');
        const k = eq < 0 ? w : w.slice(0, eq);
        this.globalArgs.set(k, this.argValue(k, eq < 0 ? undefined : w.slice(eq + 1)));
      }
    }
    const body = ins.slice(i);
    // With --target, stop after that stage.
    let end = body.length;
    if (this.o.target !== undefined) {
      const t = this.o.target.toLowerCase();
      const at = body.findIndex((x) => x.name === 'FROM' && /\s+as\s+(\S+)\s*$/i.exec(x.args)?.[1]?.toLowerCase() === t);
      if (at < 0) throw new BaleError(`target stage "${this.o.target}" could not be found`);
      const nextFrom = body.findIndex((x, k) => k > at && x.name === 'FROM');
      end = nextFrom < 0 ? body.length : nextFrom;
    }
    const todo = body.slice(0, end);
    if (this.o.labels?.length) {
      const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
      const kv = [...this.o.labels].map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)] as const).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
      // one step per label, keys sorted, as docker 20.10's classic builder adds them
      for (const [k, v] of kv) todo.push(parseInstruction(`LABEL ${q(k)}=${q(v)}`, todo[todo.length - 1]!.line, this.file));
    }
    this.totalSteps = todo.length;
    let stage: Stage | undefined;
    for (const x of todo) {
      this.step++;
      this.o.log(`Step ${this.step}/${this.totalSteps} : ${x.name}${x.flagList.map(([k, v]) => ` --${k}=${v}`).join('')} ${x.args}`.trimEnd());
      try {
        if (x.name === 'FROM') {
          stage = await this.from(x);
          this.stages.push(stage);
          continue;
        }
        await this.dispatch(stage!, x);
      } catch (e) {
        // whatever went wrong, the user learns which line it was
        if (e instanceof DockerfileError) throw e;
        throw new DockerfileError(this.file, x.line, oneLine(e));
      }
    }
    const unused = [...this.o.buildArgs.keys()].filter((k) => !this.usedArgs.has(k) && !this.globalArgs.has(k));
    if (unused.length) this.o.log(`[Warning] One or more build-args [${unused.join(' ')}] were not consumed`);
    const final = stage!.state;
    const config: ImageConfig = { ...final.config, created: final.config.created ?? this.now() };
    return createImage(this.store, { config, layers: final.layers, tags: this.o.tags });
  }
}

/** Build the Dockerfile; returns the image (tagged with o.tags). */
export async function buildImage(store: Store, o: BuildOptions): Promise<ImageRecord> {
  const lock = await store.writerLock();
  try {
    return await new Builder(store, o).build();
  } finally {
    await lock.release();
  }
}

/** Read a Dockerfile from a path, or '-' for stdin. */
export function readDockerfile(file: string): { text: string; name: string } {
  try {
    return { text: readFileSync(file === '-' ? 0 : file, 'utf8'), name: file === '-' ? 'Dockerfile' : path.basename(file) };
  } catch (e) {
    throw new BaleError(`${file}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file (no Dockerfile to build)' : (e as Error).message}`);
  }
}
