// Reads an invite code or certificate serial from page options: `code` / `serial`, the
// 小程序码 `scene`, or `q` (a scanned ordinary QR link).
function decode(value) {
  try {
    return decodeURIComponent(value);
  } catch (e) {
    return value;
  }
}

function inviteCode(options = {}) {
  if (options.code) return decode(options.code).trim();
  if (options.scene) {
    const scene = decode(options.scene);
    const m = /(?:^|&)code=([^&]+)/.exec(scene);
    return (m ? m[1] : scene).trim();
  }
  return '';
}

function certificateSerial(options = {}) {
  if (options.serial) return decode(options.serial).trim();
  const raw = options.q ? decode(options.q) : options.scene ? decode(options.scene) : '';
  const m = /certificates\/([^/?#]+)/.exec(raw);
  if (m) return decode(m[1]);
  return raw.trim();
}

// 'quiz' for a quiz certificate (`kind=quiz`, or a scanned /quiz-certificates/ link), else 'pledge'
function certificateKind(options = {}) {
  if (options.kind) return options.kind === 'quiz' ? 'quiz' : 'pledge';
  const raw = options.q ? decode(options.q) : options.scene ? decode(options.scene) : '';
  return /quiz-certificates\//.test(raw) ? 'quiz' : 'pledge';
}

module.exports = { inviteCode, certificateSerial, certificateKind };
