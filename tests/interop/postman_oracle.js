// Postman's own model (postman-collection) as the oracle for `signet import postman`: for each
// request of a collection, the auth Postman uses (Item.getAuth: the request's, else the nearest
// folder's, else the collection's; noauth stops it) and the URL it goes to after variable
// substitution (environment over collection variables over globals).
// Usage: node postman_oracle.js COLLECTION.json [--environment ENV.json]... [--globals G.json]
// Prints a JSON list of {name, method, auth, url}.
//
// Two inputs are adjusted where the Postman app and the library differ, as signet follows the
// app: environment values with `enabled: false` are left out (the app skips them; the library
// and newman read `disabled` only), and a stray `{"type": "inherit"}` auth is dropped (the app
// never writes one; the library would take "inherit" for a type).
const fs = require("fs");
const sdk = require("postman-collection");

const args = process.argv.slice(2);
const collectionFile = args.shift();
const environments = [];
let globals = null;
while (args.length) {
  const flag = args.shift();
  const file = args.shift();
  if (flag === "--environment") environments.push(file);
  else if (flag === "--globals") globals = file;
  else throw new Error(`unknown argument ${flag}`);
}

const read = (file) => JSON.parse(fs.readFileSync(file, "utf8"));

function dropStrayInherit(node) {
  if (Array.isArray(node)) return node.forEach(dropStrayInherit);
  if (node && typeof node === "object") {
    if (node.auth && node.auth.type === "inherit") delete node.auth;
    Object.values(node).forEach(dropStrayInherit);
  }
}

const activeValues = (file) => read(file).values.filter((v) => v.enabled !== false);

const json = read(collectionFile);
dropStrayInherit(json);
const collection = new sdk.Collection(json);
// The first list that defines a name wins: later environments over earlier ones, then the
// collection's variables, then globals.
const layers = environments
  .slice()
  .reverse()
  .map((file) => new sdk.VariableList(null, activeValues(file)));
layers.push(collection.variables);
if (globals) layers.push(new sdk.VariableList(null, activeValues(globals)));

const substitute = (text) => sdk.Property.replaceSubstitutions(text, layers);

const out = [];
collection.forEachItem((item) => {
  const names = [];
  for (let p = item.parent(); p && p !== collection; p = p.parent()) names.unshift(p.name);
  names.push(item.name);
  const auth = item.getAuth();
  out.push({
    name: names.join(" / "),
    method: item.request.method,
    auth: auth ? auth.type : "noauth",
    // Url.toString fills path variables (`:id`) from the request's url.variable.
    url: substitute(item.request.url.toString()),
  });
});
console.log(JSON.stringify(out, null, 1));
