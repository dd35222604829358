// What is open to me: the campaigns I can see with their pledges and quizzes and my progress.
const campaigns = require('../api/campaigns');
const { SIGNATURE_STATUS, CAMPAIGN_STATUS, OPEN_STATUS } = require('./format');

// A parent's family pledge: where the linked children the campaign reaches stand (`children`).
function familyProgress(children) {
  const live = children.filter((c) => !c.revoked);
  if (live.length && live.every((c) => c.status === 'complete')) return { text: '已共同签署', done: true };
  if (live.some((c) => c.status === 'awaiting_guardian')) return { text: '待你共同签署', done: false };
  if (!live.length) return { text: '已撤销', done: false };
  return { text: '等待孩子先签署', done: false };
}

function pledgeProgress(pledge) {
  if (pledge.mode === 'family' && !pledge.my_signature && (pledge.children || []).length) return familyProgress(pledge.children);
  // seen only as a child's guardian: the child signs it; not one of the caller's tasks
  if (pledge.mode === 'individual' && pledge.guardian_only && !pledge.my_signature) return { text: '由孩子签署', done: false, notMine: true };
  const sig = pledge.my_signature;
  if (!sig || !sig.serial) return { text: pledge.status === 'open' ? '待签署' : OPEN_STATUS[pledge.status] || '', done: false };
  if (sig.revoked) return { text: '已撤销', done: false };
  return { text: SIGNATURE_STATUS[sig.status] || sig.status, done: sig.status === 'complete' };
}

function quizProgress(quiz) {
  const me = quiz.me || {};
  const levels = me.levels || [];
  const passed = levels.filter((l) => l.passed).length;
  const used = levels.reduce((n, l) => n + (l.attempts_used || 0), 0);
  const best = levels.reduce((b, l) => (l.best_score !== null && l.best_score !== undefined && l.best_score > b ? l.best_score : b), -1);
  let text;
  if (me.open_attempt_id) text = '答题中，可继续';
  else if (quiz.leveled) text = `已闯过 ${passed} / ${levels.length || (quiz.levels || []).length} 关`;
  else if (used) text = best >= 0 ? `最好成绩 ${best} 分` : '已作答';
  else text = quiz.status === 'open' ? '待答题' : OPEN_STATUS[quiz.status] || '';
  const total = quiz.leveled ? (quiz.levels || []).length || 1 : 1;
  return { text, done: quiz.leveled ? passed >= total : levels.some((l) => l.passed), percent: Math.round(((quiz.leveled ? passed : levels.some((l) => l.passed) ? 1 : 0) / total) * 100) };
}

async function load() {
  const page = await campaigns.listCampaigns();
  const items = await Promise.all(
    (page.items || []).map(async (c) => {
      const [pledges, quizzes] = await Promise.all([campaigns.listPledges(c.id, {}), campaigns.listQuizzes(c.id, {})]);
      const pledgeItems = (pledges.items || []).map((p) => Object.assign({}, p, { progress: pledgeProgress(p) }));
      const quizItems = (quizzes.items || []).map((q) => Object.assign({}, q, { progress: quizProgress(q) }));
      const tasks = pledgeItems.filter((p) => !p.progress.notMine).length + quizItems.length;
      const done = pledgeItems.filter((p) => p.progress.done).length + quizItems.filter((q) => q.progress.done).length;
      return Object.assign({}, c, {
        statusText: CAMPAIGN_STATUS[c.status] || '',
        pledges: pledgeItems,
        quizzes: quizItems,
        percent: tasks ? Math.round((done / tasks) * 100) : 0,
        doneText: tasks ? `已完成 ${done} / ${tasks}` : '暂无任务',
      });
    })
  );
  return items;
}

module.exports = { load, pledgeProgress, quizProgress };
