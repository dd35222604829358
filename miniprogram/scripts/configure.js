// Copies the AppID from config.js into project.config.json (WeChat DevTools reads it there).
const fs = require('fs');
const path = require('path');
const config = require('../config');

const file = path.join(__dirname, '..', 'project.config.json');
const project = JSON.parse(fs.readFileSync(file, 'utf8'));
if (project.appid !== config.APPID) {
  project.appid = config.APPID;
  fs.writeFileSync(file, `${JSON.stringify(project, null, 2)}\n`);
  console.log(`project.config.json: appid set to ${config.APPID}`);
} else {
  console.log('project.config.json: appid already matches config.js');
}
