-- Test helpers for `nt3 completion`: load a generated script into a real
-- bash, zsh or fish and ask it what a command line completes to, the way
-- the shell does when the user presses <Tab>.
--
--   complete.bash(script, lines, opts) -> results
--   complete.zsh(script, lines, opts)  -> results, transcript
--   complete.fish(script, lines, opts) -> results
--
-- lines are command lines typed so far ("nt3 hello --n", "nt3 completion ");
-- the cursor is at the end. results[line] = { words = sorted matches,
-- about = { [match] = its description, where the shell shows one } }.
-- opts.cwd: where the shell runs (file names complete from there);
-- opts.home: its HOME (default: a fresh directory).
local sh = require "helpers.sh"

local M = {}

-- Every shell runs under timeout(1): a harness that waits for output that
-- never comes fails the spec instead of hanging the suite. Not a timed
-- assertion: the bound is generous and only stops a hang.
local LIMIT = { "-k", "5", "120" }

-- a directory holding `nt3` (the binary under test), for PATH: the scripts
-- ask nt3 for the profile names when they complete --profile
local bin
local function nt3_on_path()
  if not bin then
    bin = sh.tmpdir()
    assert(os.execute("ln -s " .. sh.quote(sh.bin) .. " " .. sh.quote(bin .. "/nt3")))
  end
  return bin .. ":" .. os.getenv("PATH")
end

local function shell(argv, opts)
  opts.env = opts.env or {}
  opts.env.PATH = opts.env.PATH or nt3_on_path()
  local args = {}
  for _, a in ipairs(LIMIT) do args[#args + 1] = a end
  for _, a in ipairs(argv) do args[#args + 1] = a end
  local out = sh.run(args, { bin = "timeout", home = opts.home, cwd = opts.cwd, env = opts.env })
  assert(out.code == 0, ("%s exited with %s\nstdout:\n%s\nstderr:\n%s"):format(argv[1], tostring(out.code),
    out.stdout, out.stderr))
  return out
end

local function write(name, text)
  local path = sh.tmpdir() .. "/" .. name
  sh.spit(path, text)
  return path
end

-- Reads "## <line>" headers, each followed by "<match>\t<description>" rows.
local function sections(text)
  local results, current = {}, nil
  for row in text:gmatch("[^\n]*") do
    local line = row:match("^## (.*)$")
    if line then
      current = { words = {}, about = {} }
      results[line] = current
    elseif current and row ~= "" then
      local word, about = row:match("^([^\t]*)\t?(.*)$")
      if current.about[word] == nil then current.words[#current.words + 1] = word end
      current.about[word] = about ~= "" and about or current.about[word] or false
    end
  end
  for _, r in pairs(results) do table.sort(r.words) end
  return results
end

---------------------------------------------------------------------------
-- bash: source the script, set COMP_WORDS/COMP_CWORD as readline would,
-- call the completion function and print COMPREPLY.
---------------------------------------------------------------------------

local BASH_DRIVER = [==[
source "$1" || exit 9
shift
for line in "$@"; do
  printf '## %s\n' "$line"
  read -r -a COMP_WORDS <<< "$line"
  # a trailing space starts a new, empty word
  [[ $line == *' ' ]] && COMP_WORDS+=('')
  COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))
  COMPREPLY=()
  _nt3
  (( ${#COMPREPLY[@]} )) && printf '%s\n' "${COMPREPLY[@]}"
done
# no match for the last line is an answer too, not a failure
exit 0
]==]

function M.bash(script, lines, opts)
  opts = opts or {}
  local argv = { "bash", "--norc", "--noprofile", write("driver.bash", BASH_DRIVER), write("nt3.bash", script) }
  for _, l in ipairs(lines) do argv[#argv + 1] = l end
  return sections(shell(argv, opts).stdout)
end

---------------------------------------------------------------------------
-- zsh: an interactive `zsh -f -i` on a pseudo-terminal (zsh/zpty), with
-- compinit and the script loaded as a user would (sourced, or autoloaded
-- from $fpath). <Tab> is bound to a widget that runs the real completion
-- system; a compadd wrapper notes every match it would offer (and the
-- display text _describe gives it) in a file. Nothing is listed or inserted.
---------------------------------------------------------------------------

-- runs inside the interactive zsh; NT3_ZOUT is the file matches go to
local ZSH_SETUP = [==[
PS1='> ' PROMPT_EOL_MARK=''
[[ -n $NT3_ZFPATH ]] && fpath=($NT3_ZFPATH $fpath)
# NT3_ZDUMP: the spec's one dump of the system's completions (see M.zsh)
if [[ -n $NT3_ZDUMP ]]; then autoload -Uz compinit && compinit -u -d $NT3_ZDUMP
else autoload -Uz compinit && compinit -u -D; fi
# one display line per match, so each gets its own description
zstyle ':completion:*' list-grouped false
[[ -n $NT3_ZSOURCE ]] && source $NT3_ZSOURCE
compadd() {
  local -a __opts __words __shown
  local __n __i
  __opts=( "${@[1,(i)(-|--)]}" )
  # -O, -A and -D only ask which words match and add none: not an offer
  if (( ${__opts[(I)-[OAD]]} )); then builtin compadd "$@"; return; fi
  # -d names the array (or gives the literal list) of display strings
  __n=${__opts[(i)-d]}
  if (( __n < $#__opts )); then
    if [[ ${__opts[__n+1]} == \(* ]]; then eval "__shown=${__opts[__n+1]}"
    else __shown=( "${(@P)__opts[__n+1]}" ); fi
  fi
  # -D keeps the display strings of the words that match, in step with -O
  builtin compadd -O __words -D __shown "$@"
  for (( __i = 1; __i <= $#__words; __i++ )); do
    print -r -- "${__words[__i]}	${__shown[__i]}" >> $NT3_ZOUT
  done
  builtin compadd "$@"
}
_nt3_test_complete() { _main_complete; compstate[list]=''; compstate[insert]='' }
zle -C nt3-test-complete complete-word _nt3_test_complete
_nt3_test_tab() {
  print -r -- "## $BUFFER" >> $NT3_ZOUT
  zle nt3-test-complete
  BUFFER='' CURSOR=0
  print -n 'TAB''DONE'
}
zle -N _nt3_test_tab
bindkey '^I' _nt3_test_tab
print 'SET''UP'
]==]

-- drives the interactive zsh: each line is typed, then <Tab>; the markers
-- are split in the scripts so the terminal's echo of them never matches
local ZSH_DRIVER = [==[
zmodload zsh/zpty || exit 3
zpty nt3 zsh -f -i
zpty -w nt3 "source ${(q)1}"
zpty -r nt3 out '*SETUP*' || exit 4
print -r -- "$out"
shift
for line in "$@"; do
  zpty -w -n nt3 "$line"$'\t'
  zpty -r nt3 out '*TABDONE*' || exit 5
  print -r -- "$out"
done
zpty -d nt3
]==]

local zdump
-- opts.install: "source" (default; source <(nt3 completion zsh)) or
-- "fpath" (saved as _nt3 in a directory on $fpath, autoloaded by compinit)
function M.zsh(script, lines, opts)
  opts = opts or {}
  local env = { NT3_ZOUT = sh.tmpdir() .. "/matches", TERM = "dumb" }
  if opts.install == "fpath" then
    -- compinit itself must find _nt3 on $fpath here: no dump, a full scan
    local dir = sh.tmpdir()
    sh.spit(dir .. "/_nt3", script)
    env.NT3_ZFPATH = dir
  else
    env.NT3_ZSOURCE = write("nt3.zsh", script)
    -- the script is sourced after compinit, so compinit sees only the
    -- system's fpath, the same for every run: scanning its ~1000 files
    -- (seconds of I/O on a busy machine) once per spec file and loading
    -- the dump after that changes nothing nt3's script meets
    zdump = zdump or sh.tmpdir() .. "/zcompdump"
    env.NT3_ZDUMP = zdump
  end
  local argv = { "zsh", "-f", write("driver.zsh", ZSH_DRIVER), write("setup.zsh", ZSH_SETUP) }
  for _, l in ipairs(lines) do argv[#argv + 1] = l end
  local out = shell(argv, { home = opts.home, cwd = opts.cwd, env = env })
  return sections(sh.slurp(env.NT3_ZOUT) or ""), out.stdout
end

---------------------------------------------------------------------------
-- fish: `complete -C LINE` prints what fish completes LINE to.
---------------------------------------------------------------------------

local FISH_DRIVER = [==[
if set -q NT3_FSOURCE
  source $NT3_FSOURCE; or exit 9
end
for line in $argv
  printf '## %s\n' $line
  complete -C $line
end
]==]

-- opts.install: "source" (default; fish --no-config, script sourced) or
-- "config": saved as ~/.config/fish/completions/nt3.fish, as the docs say,
-- for a fish that reads its configuration and an nt3 on $PATH (fish loads a
-- command's completions when it first completes that command)
function M.fish(script, lines, opts)
  opts = opts or {}
  local home = opts.home or sh.tmpdir()
  local env, argv = {}, { "fish" }
  if opts.install == "config" then
    local dir = home .. "/.config/fish/completions"
    assert(os.execute("mkdir -p " .. sh.quote(dir)))
    sh.spit(dir .. "/nt3.fish", script)
    env.PATH = nt3_on_path()
  else
    argv[#argv + 1] = "--no-config"
    env.NT3_FSOURCE = write("nt3.fish", script)
  end
  argv[#argv + 1] = write("driver.fish", FISH_DRIVER)
  for _, l in ipairs(lines) do argv[#argv + 1] = l end
  return sections(shell(argv, { home = home, cwd = opts.cwd, env = env }).stdout)
end

return M
