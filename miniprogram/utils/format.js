const ROLE_NAMES = { student: '学生', parent: '家长', teacher: '教师', school_admin: '学校管理员', region_admin: '教育局管理员', judge: '评委', admin: '平台管理员' };
const CAMPAIGN_STATUS = { upcoming: '未开始', active: '进行中', ended: '已结束' };
const OPEN_STATUS = { upcoming: '未开始', open: '进行中', closed: '已结束' };
const SIGNATURE_STATUS = { complete: '已签署', awaiting_guardian: '等待家长签署' };

function pad(n) {
  return n < 10 ? `0${n}` : `${n}`;
}

// ISO time → 北京时间 "2026-11-21 14:05"
function dateTime(iso) {
  if (!iso) return '';
  const t = new Date(Date.parse(iso) + 8 * 3600 * 1000);
  if (Number.isNaN(t.getTime())) return '';
  return `${t.getUTCFullYear()}-${pad(t.getUTCMonth() + 1)}-${pad(t.getUTCDate())} ${pad(t.getUTCHours())}:${pad(t.getUTCMinutes())}`;
}

function date(iso) {
  return dateTime(iso).slice(0, 10);
}

function duration(seconds) {
  const s = Math.round(seconds || 0);
  const m = Math.floor(s / 60);
  return m ? `${m} 分 ${s % 60} 秒` : `${s} 秒`;
}

module.exports = {
  ROLE_NAMES,
  CAMPAIGN_STATUS,
  OPEN_STATUS,
  SIGNATURE_STATUS,
  roleName: (role) => ROLE_NAMES[role] || role,
  dateTime,
  date,
  duration,
};
