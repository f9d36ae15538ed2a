-- Drives `dlpc lsp` through Neovim's built-in LSP client (0.7+), headless.
-- Run by tests/nvim_e2e.rs, which reads the transcript this writes:
--   DLPC: the dlpc binary; DLP_FILE: the .dlp file to open; DLP_OUT: the
--   transcript (JSON) to write.
local dlpc = os.getenv("DLPC")
local file = os.getenv("DLP_FILE")
local out = os.getenv("DLP_OUT")
-- Positions (0-based line and UTF-16 column) the test found in the file.
local function position(var)
  local line, character = os.getenv(var):match("(%d+),(%d+)")
  return tonumber(line), tonumber(character)
end
local transcript = { events = {} }

local function record(what, value)
  table.insert(transcript.events, { what = what, value = value })
end

local function finish(failure)
  transcript.failure = failure
  local f = io.open(out, "w")
  f:write(vim.fn.json_encode(transcript))
  f:close()
  vim.cmd("qa!")
end

local function run()
  vim.cmd("edit " .. vim.fn.fnameescape(file))
  local buf = vim.api.nvim_get_current_buf()
  local published = {}
  local client_id = vim.lsp.start_client({
    name = "dlpc",
    cmd = { dlpc, "lsp" },
    root_dir = vim.fn.fnamemodify(file, ":h"),
    handlers = {
      ["textDocument/publishDiagnostics"] = function(err, result, ctx, config)
        table.insert(published, result)
        vim.lsp.diagnostic.on_publish_diagnostics(err, result, ctx, config)
      end,
    },
  })
  if not client_id then
    return finish("start_client failed")
  end
  vim.lsp.buf_attach_client(buf, client_id)
  if not vim.wait(20000, function() return #published >= 1 end, 20) then
    return finish("no diagnostics were published for the opened file")
  end
  record("diagnostics after open", published[#published])

  local client = vim.lsp.get_client_by_id(client_id)
  local uri = vim.uri_from_bufnr(buf)
  local function at(line, character)
    return { textDocument = { uri = uri }, position = { line = line, character = character } }
  end
  local function ask(method, params)
    local response, err = client.request_sync(method, params, 10000, buf)
    if not response then
      return { error = tostring(err) }
    end
    return response
  end
  record("hover on h", ask("textDocument/hover", at(position("DLP_H"))))
  record("definition of h", ask("textDocument/definition", at(position("DLP_H"))))
  record("definition of linear", ask("textDocument/definition", at(position("DLP_LINEAR"))))

  -- Misspell `relu` the way a person would, through the buffer.
  local seen = #published
  local line, character = position("DLP_RELU")
  vim.api.nvim_buf_set_text(buf, line, character, line, character + 4, { "rleu" })
  if not vim.wait(20000, function() return #published > seen end, 20) then
    return finish("no diagnostics were published after the edit")
  end
  record("diagnostics after the edit", published[#published])
  client.stop()
  finish(nil)
end

local ok, err = pcall(run)
if not ok then
  finish("lua error: " .. tostring(err))
end
