const { get, post, del } = require('./request');

module.exports = {
  // a student's code for the parent to enter
  getFamilyCode: () => get('/me/family-code'),
  // a parent binds a child with that code → {child}
  bindChild: (code) => post('/family/links', { code }),
  // {children, guardians}: my links both ways, each with its id
  myLinks: () => get('/family/links'),
  // either side ends a link (a child removing an account it does not know)
  removeLink: (id) => del(`/family/links/${id}`),
};
