const { get, post } = require('./request');

module.exports = {
  // a student's code for the parent to enter
  getFamilyCode: () => get('/me/family-code'),
  // a parent binds a child with that code → {child}
  bindChild: (code) => post('/family/links', { code }),
};
