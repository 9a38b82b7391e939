# polyrun's Ruby prelude: evaluated once per VM, before any user code.
$stdout.sync = true
$stderr.sync = true
require "json"

module Polyrun
  @binding = TOPLEVEL_BINDING

  # Runs user code in the VM's one top-level binding (so a session keeps its local variables
  # and methods) and describes the result as JSON for the host.
  def self.run(code, file)
    value = eval(code, @binding, file, 1)
    { "ok" => true, "value" => (value.nil? ? nil : value.inspect) }.to_json
  rescue SystemExit => e
    { "ok" => true, "value" => nil, "exit" => e.status }.to_json
  rescue Exception => e # rubocop:disable Lint/RescueException -- the host wants every error
    frames = (e.backtrace_locations || [])
      .select { |l| l.path == file }
      .map { |l| { "function" => l.label, "line" => l.lineno } }
    line = frames.first && frames.first["line"]
    message = e.message.to_s
    if e.is_a?(SyntaxError)
      found = message.match(/#{Regexp.escape(file)}:(\d+)/)
      line ||= found && found[1].to_i
      message = message.sub(/\A#{Regexp.escape(file)}:\d+: /, "")
    end
    { "ok" => false, "class" => e.class.name, "message" => message, "line" => line,
      "frames" => frames }.to_json
  end
end
