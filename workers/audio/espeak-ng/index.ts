import { AgentbusError } from '../../../bus-schemas/index.js';
import type { Logger } from '../../../common/logger.js';
import { findBinary } from '../../speech/find-binary.js';
import { planSpeech } from '../../speech/plan.js';
import type { SpeechSettings } from '../../speech/settings.js';
import { synthesize } from '../../speech/synthesize.js';
import { espeakVoice } from '../../speech/voice.js';
import { createEngineInstall, type PackageInstaller } from '../engine-install.js';
import type { AudioProvider, SpeakRequest, SpokenAudio } from '../types.js';

// A bare command name is looked for on PATH, where Debian's package puts it; a path is the user's own.
const onPath = (command: string) => !command.includes('/');

/**
 * espeak-ng in the worker's process (its encoder ffmpeg for every format but wav): English and
 * Bengali voices, chosen from the text. Each binary is installed from Debian's packages the first
 * time a request needs it, when the worker runs as root.
 */
export function createEspeakNgProvider(
  settings: SpeechSettings,
  installer: PackageInstaller,
  log: Logger,
): AudioProvider {
  const espeak = createEngineInstall(
    {
      name: 'espeak-ng',
      debianPackage: 'espeak-ng',
      find: () => findBinary(settings.espeakPath),
      installable: onPath(settings.espeakPath),
    },
    installer,
    log,
  );
  const ffmpeg = createEngineInstall(
    {
      name: 'ffmpeg',
      debianPackage: 'ffmpeg',
      find: () => findBinary(settings.ffmpegPath),
      installable: onPath(settings.ffmpegPath),
    },
    installer,
    log,
  );

  async function speak(request: SpeakRequest): Promise<SpokenAudio> {
    // An unknown voice is the client's mistake: refused before anything is installed.
    espeakVoice(request.voice, request.input);
    const engine = await espeak.ensure(request.signal);
    if (engine.path === undefined)
      throw new AgentbusError(
        'speech_engine_unavailable',
        `The speech engine espeak-ng ("${settings.espeakPath}", ESPEAK_NG_PATH) is ${engine.why}: ` +
          `run "${engine.command}" as root, or run the worker as root to have it installed on first use.`,
      );
    let encoder: string | undefined;
    if (request.format !== 'wav') {
      const found = await ffmpeg.ensure(request.signal);
      if (found.path === undefined)
        throw new AgentbusError(
          'audio_format_unavailable',
          `response_format "${request.format}" needs ffmpeg ("${settings.ffmpegPath}", FFMPEG_PATH), which is ` +
            `${found.why} on this worker ("${found.command}"). Available: wav.`,
          { param: 'response_format' },
        );
      encoder = found.path;
    }
    const plan = planSpeech(request, { espeakPath: engine.path, ffmpegPath: encoder ?? settings.ffmpegPath });
    request.log.info({ espeak: [plan.espeak.command, ...plan.espeak.args].join(' ') }, 'speaking');
    return { voice: plan.voice, contentType: plan.contentType, audio: synthesize(plan, request.input, request.signal) };
  }

  return Object.freeze({ name: 'espeak-ng', endpoint: settings.espeakPath, speak });
}
